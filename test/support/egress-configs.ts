/**
 * An egress config shared by the egress's own tests and explain's: api.pay.test is declared
 * with TLS (port 443 HTTPS), its DestinationRule has a `plain` subset with TLS turned off, a
 * VirtualService at the egress sends pay.alias.test to that subset, and an EgressCredential
 * gives the host the secret PAY_KEY. Calls to api.pay.test may carry the credential; calls
 * through the alias would send it in cleartext, which the egress refuses.
 */
export const PAY_WITH_PLAIN_ALIAS_YAML = `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: pay, namespace: external }
spec:
  hosts: [api.pay.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: pay, namespace: external }
spec:
  host: api.pay.test
  subsets: [{ name: plain, trafficPolicy: { tls: { mode: DISABLE } } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: [pay.alias.test] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: alias, namespace: istio-system }
spec:
  hosts: [pay.alias.test]
  gateways: [egress]
  http: [{ route: [{ destination: { host: api.pay.test, subset: plain, port: { number: 443 } } }] }]
---
apiVersion: mesh.istio.io/v1alpha1
kind: EgressCredential
metadata: { name: pay, namespace: istio-system }
spec:
  hosts: [api.pay.test]
  inject: { secretName: PAY_KEY, prefix: "Bearer " }
`;
