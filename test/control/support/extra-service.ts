/**
 * A small ServiceEntry (`extra-<index>` in `namespace`), one per concurrent writer in the tests
 * that check no writer loses another's change.
 */
export function extraServiceEntry(index: number, namespace: string): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: extra-${index}, namespace: ${namespace} }
spec:
  hosts: [extra-${index}.${namespace}.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${20000 + index} } }]
`;
}
