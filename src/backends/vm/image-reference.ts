// What a Docker image reference may look like: `[registry/]name[:tag][@digest]`, checked before
// a name reaches the Engine API. dockerode puts the name into the URL path unescaped
// (`/images/<name>/json`), so a name such as `x/../../y` is a different endpoint, and the engine
// answers an unclean path with a redirect.

/** Lowercase path component: alphanumerics joined by `.`, `_`, `__` or runs of `-`. */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*';
/** Registry host: DNS labels joined by dots, with an optional port. */
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

/** The whole grammar as one anchored pattern (JSON Schema `pattern`). */
export const IMAGE_REFERENCE_PATTERN = `^${NAME}(?::${TAG})?(?:@${DIGEST})?$`;

export const IMAGE_REFERENCE_RULE =
  'must be a Docker image reference [registry/]name[:tag][@digest]: lowercase path components ' +
  '[a-z0-9] joined by ".", "_", "__" or "-" and separated by "/", a tag of up to 128 ' +
  '[A-Za-z0-9_.-] not starting with "." or "-", a digest algo:hex; no "..", no "//"';
