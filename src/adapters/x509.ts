// The webhook's certificates, made by cmk cluster-init without openssl or a PKI library: a CA of
// its own (its certificate is the webhook registration's caBundle) and a serving certificate for
// the webhook's Service names, both ECDSA P-256. node:crypto makes the keys and the signatures;
// what it lacks is only the DER encoding of a certificate (RFC 5280), written here in a few small
// functions, and checked by parsing every result back with node:crypto's X509Certificate. A
// library would cost start-up and dependencies for the same few bytes (node-forge: 33 ms to import
// and RSA only; @peculiar/x509 needs a global reflect-metadata polyfill).
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";

// ---- DER ------------------------------------------------------------------------------------

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
const explicit = (n: number, item: Buffer): Buffer => tlv(0xa0 | n, item);
const octets = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const bits = (bytes: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.from([unused]), bytes);
const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, "utf8"));

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * first + second];
  for (const arc of rest) {
    const group = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) group.unshift(0x80 | (value & 0x7f));
    out.push(...group);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after, as RFC 5280 requires; whole seconds, UTC. */
function time(date: Date): Buffer {
  const text = date
    .toISOString()
    .replace(/[-:T]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(text.slice(2))) : tlv(0x18, Buffer.from(text));
}

/** A positive serial number of 128 random bits, minimally encoded. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return tlv(0x02, bytes);
}

// ---- Certificates ----------------------------------------------------------------------------

const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"));
const commonName = (name: string): Buffer => sequence(tlv(0x31, sequence(oid("2.5.4.3"), utf8(name))));
const extension = (id: string, critical: boolean, value: Buffer): Buffer => sequence(oid(id), ...(critical ? [boolean(true)] : []), octets(value));

/** A CA's extensions: it may sign certificates (keyCertSign, cRLSign), none below it may. */
const caExtensions = [
  extension("2.5.29.19", true, sequence(boolean(true), tlv(0x02, Buffer.from([0])))),
  extension("2.5.29.15", true, bits(Buffer.from([0x06]), 1)),
];

/** A TLS server's: not a CA, digitalSignature only (ECDSA), serverAuth, its DNS names. */
function serverExtensions(dnsNames: readonly string[]): Buffer[] {
  return [
    extension("2.5.29.19", true, sequence()),
    extension("2.5.29.15", true, bits(Buffer.from([0x80]), 7)),
    extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))),
    extension("2.5.29.17", false, sequence(...dnsNames.map((name) => tlv(0x82, Buffer.from(name, "ascii"))))),
  ];
}

interface Signing {
  readonly subject: string;
  readonly issuer: string;
  readonly publicKey: KeyObject;
  readonly signer: KeyObject;
  readonly days: number;
  readonly extensions: readonly Buffer[];
}

function certificate(request: Signing, now: Date): string {
  // An hour back: clocks of the machines that check it may be a little behind this one.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 3600_000);
  const notAfter = new Date(notBefore.getTime() + request.days * 86_400_000);
  const tbs = sequence(
    explicit(0, tlv(0x02, Buffer.from([2]))),
    serialNumber(),
    ecdsaWithSha256,
    commonName(request.issuer),
    sequence(time(notBefore), time(notAfter)),
    commonName(request.subject),
    request.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, sequence(...request.extensions)),
  );
  const der = sequence(tbs, ecdsaWithSha256, bits(sign("sha256", tbs, request.signer)));
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
}

function keyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
}

const pemKey = (key: KeyObject): string => key.export({ type: "pkcs8", format: "pem" }).toString();

export interface Issued {
  /** The CA's certificate: what clients trust (the webhook registration's caBundle). */
  readonly caCert: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
}

export const caDays = 3650;
export const servingDays = 365;

/** A new CA named `caName`, and a serving certificate for `dnsNames` (the first is its subject) signed by it. */
export function issueWebhookCertificates(caName: string, dnsNames: readonly string[], now = new Date()): Issued {
  const ca = keyPair();
  const caCert = certificate({ subject: caName, issuer: caName, publicKey: ca.publicKey, signer: ca.privateKey, days: caDays, extensions: caExtensions }, now);
  const caKey = pemKey(ca.privateKey);
  return { caCert, caKey, ...issueServing({ caCert, caKey }, dnsNames, now) };
}

/** A new serving certificate for `dnsNames`, signed by an existing CA (renewal keeps the caBundle). */
export function issueServing(
  ca: { readonly caCert: string; readonly caKey: string },
  dnsNames: readonly string[],
  now = new Date(),
): { cert: string; key: string } {
  const server = keyPair();
  const issuer = new X509Certificate(ca.caCert).subject.replace(/^CN=/, "");
  const cert = certificate(
    {
      subject: dnsNames[0] ?? issuer,
      issuer,
      publicKey: server.publicKey,
      signer: createPrivateKey(ca.caKey),
      days: servingDays,
      extensions: serverExtensions(dnsNames),
    },
    now,
  );
  return { cert, key: pemKey(server.privateKey) };
}

/** Whether a CA can sign for `marginDays` more: a CA, not expiring, its key its own. */
export function caUsable(caCert: string, caKey: string, marginDays: number, now = new Date()): boolean {
  try {
    const ca = new X509Certificate(caCert);
    return ca.ca && Date.parse(ca.validTo) >= now.getTime() + marginDays * 86_400_000 && ca.checkPrivateKey(createPrivateKey(caKey));
  } catch {
    return false;
  }
}

/** Why a certificate (and its key) cannot serve `dnsNames` for the next `marginDays`, signed by `caCert`; undefined when it can. */
export function unusableBecause(
  pair: { cert: string; key: string },
  caCert: string,
  dnsNames: readonly string[],
  marginDays: number,
  now = new Date(),
): string | undefined {
  try {
    const cert = new X509Certificate(pair.cert);
    const ca = new X509Certificate(caCert);
    const horizon = now.getTime() + marginDays * 86_400_000;
    if (!ca.ca || Date.parse(ca.validTo) < horizon) return "its CA expires soon or is no CA";
    if (!cert.verify(ca.publicKey)) return "it is not signed by the CA";
    if (Date.parse(cert.validTo) < horizon) return `it expires on ${new Date(Date.parse(cert.validTo)).toISOString()}`;
    const missing = dnsNames.filter((name) => cert.checkHost(name, { subject: "never" }) === undefined);
    if (missing.length > 0) return `it does not name ${missing.join(", ")}`;
    if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return "the key does not match it";
    return undefined;
  } catch (error) {
    return `it cannot be read (${error instanceof Error ? error.message : String(error)})`;
  }
}
