/** The simulator's own CA and a leaf certificate for the loopback names: clients trust it with `tlsOptions: { ca }`. */
import { generate } from "selfsigned";

export interface SimulatorTls {
  caPem: string;
  key: string;
  cert: string;
}

export async function createTls(host: string): Promise<SimulatorTls> {
  const ca = await generate([{ name: "commonName", value: "keyturn sandbox CA (SANDBOX)" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const extraIp = host !== "127.0.0.1" && /^[\d.]+$/.test(host) ? [{ type: 7 as const, ip: host }] : [];
  const leaf = await generate([{ name: "commonName", value: host }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      {
        name: "subjectAltName",
        altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 2, value: "localhost" }, ...extraIp],
      },
      { name: "extKeyUsage", serverAuth: true },
    ],
  });
  return { caPem: ca.cert, key: leaf.private, cert: leaf.cert };
}
