// Files the rag backend imports as text (`with { type: 'text' }`), so they are embedded in the
// compiled binary.
declare module '*.jsonl' {
  const text: string;
  export default text;
}
