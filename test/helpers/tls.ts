// Certificates for servers the tests and the bench run on loopback, made with openssl (async, so a
// test serving HTTPS is never blocked): a CA, serving certificates for 127.0.0.1 and localhost,
// and client certificates, each as PEM text and as files.
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface Issued {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

function openssl(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, (error, _stdout, stderr) =>
      error === null ? resolve() : reject(new Error(`openssl ${args[0]} failed: ${stderr}`, { cause: error })),
    );
  });
}

async function issued(dir: string, name: string): Promise<Issued> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8"), certFile, keyFile };
}

const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA named `name` in `dir` (`<name>.crt`, `<name>.key`), valid for a day unless `days` says otherwise. */
export async function makeCa(dir: string, name: string, days = 1): Promise<Issued> {
  await openssl([
    "req",
    "-x509",
    ...curve,
    "-keyout",
    join(dir, `${name}.key`),
    "-out",
    join(dir, `${name}.crt`),
    "-days",
    String(days),
    "-subj",
    `/CN=${name}`,
  ]);
  return issued(dir, name);
}

/**
 * A certificate for `name` signed by `ca`: a serving one (127.0.0.1, localhost) or a client one,
 * valid for `days` (0: it expires the second it is made).
 */
export async function issue(dir: string, ca: Issued, name: string, usage: "server" | "client", days = 1): Promise<Issued> {
  const csr = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  await openssl(["req", ...curve, "-keyout", join(dir, `${name}.key`), "-out", csr, "-subj", `/CN=${name}`]);
  await writeFile(
    extensions,
    usage === "server" ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" : "extendedKeyUsage=clientAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-set_serial",
    String(Math.floor(Math.random() * 2 ** 48)),
    "-out",
    join(dir, `${name}.crt`),
    "-days",
    String(days),
    "-extfile",
    extensions,
  ]);
  return issued(dir, name);
}
