// Python sources the python and ds backends import as text (`with { type: 'text' }`), so they are
// embedded in the single binary, which has no source tree to read them from.
declare module '*.py' {
  const text: string;
  export default text;
}
