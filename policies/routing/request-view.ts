/** What routing needs to know about a request, independent of any runtime's Request type. */
export interface RequestView {
  /** Normalised host: lowercase, without port. */
  host: string;
  /** The raw authority (Host header), lowercase, possibly with a port. */
  authority: string;
  /** Normalised path, without the query string. */
  path: string;
  method: string;
  scheme: string;
  port: number;
  header(name: string): string | null;
  query(name: string): string | null;
}
