// The one docker-modem module the docker driver configures (docker-modem ships no types for it).
declare module 'docker-modem/lib/http.js' {
  const http: {
    /** How many redirects the modem follows by itself; read at every request. */
    maxRedirects: number;
  };
  export default http;
}
