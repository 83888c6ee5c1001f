// HTTP/1.1 over TLS for the API client: a few kept-alive connections, one request at a time on
// each. Why not node:https: in a process that lives for one `cmk isolate`, its first request costs
// about 8 ms more than this (the http module, its agent and parser set up on first use), which is
// a tenth of isolate's whole run against the API server. The API server speaks plain HTTP/1.1
// (JSON bodies with Content-Length, chunked when it streams), so the part written here is small:
// a request line and headers out, a status line, headers and a body back. A connection the server
// closed while it sat idle is replaced, and the request sent again, once.
import { type ConnectionOptions, connect, type TLSSocket } from "node:tls";

export interface Http1Request {
  readonly method: string;
  /** The path and query, e.g. /api/v1/namespaces/default/configmaps/cmk-config-node1. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
  readonly timeoutMs: number;
}

export interface Http1Response {
  readonly status: number;
  /** Header names in lower case; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Where to connect and how to verify the server: node:tls's options (host, port, ca, cert, key, servername). */
export type Http1Target = ConnectionOptions & { readonly host: string; readonly port: number };

/** Bytes past which a response head is refused: the API server's heads are a few hundred bytes. */
const maxHeadBytes = 64 * 1024;

interface Connection {
  readonly socket: TLSSocket;
  /** Set once a request has completed on it: a later failure before any answer may be a stale keep-alive. */
  used: boolean;
  /** While it sits idle: forgets the connection when the server closes it. */
  onIdleClose: (() => void) | undefined;
}

export class Http1Connections {
  private readonly target: Http1Target;
  private readonly hostHeader: string;
  private readonly maxConnections: number;
  private readonly idle: Connection[] = [];
  private open = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(target: Http1Target, maxConnections = 4) {
    this.target = target;
    this.hostHeader = target.host.includes(":") ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    this.maxConnections = maxConnections;
  }

  async request(request: Http1Request): Promise<Http1Response> {
    try {
      return await this.exchangeOn(await this.acquire(false), request);
    } catch (error) {
      if (!(error instanceof StaleConnection)) throw error;
      // The server closed a kept-alive connection before it answered: send once more on a new one.
      return this.exchangeOn(await this.acquire(true), request);
    }
  }

  /** Closes the idle connections, so that the process may exit at once; busy ones close when their request ends. */
  close(): void {
    for (const connection of [...this.idle]) this.drop(connection);
  }

  private async exchangeOn(connection: Connection, request: Http1Request): Promise<Http1Response> {
    try {
      const response = await exchange(connection, this.hostHeader, request);
      this.release(connection, response.headers["connection"]?.toLowerCase() !== "close");
      return response;
    } catch (error) {
      this.release(connection, false);
      throw error;
    }
  }

  private async acquire(fresh: boolean): Promise<Connection> {
    for (;;) {
      const kept = fresh ? undefined : this.idle.pop();
      if (kept !== undefined) {
        if (kept.onIdleClose !== undefined) kept.socket.off("close", kept.onIdleClose);
        kept.onIdleClose = undefined;
        kept.socket.ref();
        return kept;
      }
      if (fresh && this.open >= this.maxConnections && this.idle.length > 0) this.drop(this.idle[0] as Connection);
      if (this.open < this.maxConnections) {
        this.open++;
        const socket = connect({ ...this.target, ALPNProtocols: ["http/1.1"] });
        // Errors reach the request in progress; one that comes while idle or after the end is the close that follows.
        socket.on("error", () => {});
        return { socket, used: false, onIdleClose: undefined };
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(connection: Connection, reusable: boolean): void {
    if (!reusable || connection.socket.destroyed) {
      connection.socket.destroy();
      this.open--;
      this.waiting.shift()?.();
      return;
    }
    connection.used = true;
    connection.socket.unref();
    connection.onIdleClose = () => this.drop(connection);
    connection.socket.once("close", connection.onIdleClose);
    this.idle.push(connection);
    this.waiting.shift()?.();
  }

  private drop(connection: Connection): void {
    const at = this.idle.indexOf(connection);
    if (at < 0) return;
    this.idle.splice(at, 1);
    if (connection.onIdleClose !== undefined) connection.socket.off("close", connection.onIdleClose);
    connection.socket.destroy();
    this.open--;
    this.waiting.shift()?.();
  }
}

/** A kept-alive connection that failed before any byte of the answer: safe to send again. */
class StaleConnection extends Error {}

/** Sends one request on `connection` and reads its whole response. */
function exchange(connection: Connection, hostHeader: string, request: Http1Request): Promise<Http1Response> {
  const { socket } = connection;
  return new Promise((resolve, reject) => {
    const parser = new ResponseParser(request.method === "HEAD");
    let answered = false;
    const finish = (error: Error | null, response?: Http1Response): void => {
      clearTimeout(timer);
      socket.off("data", onData).off("error", onError).off("end", onEnd).off("close", onEnd);
      if (response !== undefined) resolve(parser.leftover ? { ...response, headers: { ...response.headers, connection: "close" } } : response);
      else reject(!answered && connection.used ? new StaleConnection(error?.message, { cause: error }) : error);
    };
    const onData = (chunk: Buffer): void => {
      answered = true;
      try {
        const response = parser.push(chunk);
        if (response !== null) finish(null, response);
      } catch (error) {
        finish(error as Error);
      }
    };
    const onError = (error: Error): void => finish(error);
    const onEnd = (): void => {
      const response = parser.end();
      if (response !== null) finish(null, { ...response, headers: { ...response.headers, connection: "close" } });
      else finish(new Error(answered ? "the server closed the connection in the middle of its answer" : "the server closed the connection without answering"));
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(new Error(`no answer within ${(request.timeoutMs / 1000).toFixed(1)} s`));
    }, request.timeoutMs);
    socket.on("data", onData).on("error", onError).on("end", onEnd).on("close", onEnd);
    try {
      socket.write(head(request, hostHeader) + (request.body ?? ""));
    } catch (error) {
      finish(error as Error);
    }
  });
}

function head(request: Http1Request, hostHeader: string): string {
  let text = `${request.method} ${request.path} HTTP/1.1\r\nHost: ${hostHeader}\r\n`;
  for (const [name, value] of Object.entries(request.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${JSON.stringify(name)} holds a line break`);
    text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}

type BodyFraming = { readonly kind: "length"; readonly remaining: number } | { readonly kind: "chunked" } | { readonly kind: "until-close" };

/** Reads one response from the bytes of a connection: status line, headers, then the body as its headers frame it. */
export class ResponseParser {
  private buffered: Buffer = Buffer.alloc(0);
  private status = 0;
  private headers: Record<string, string> = {};
  private framing: BodyFraming | undefined;
  private readonly body: Buffer[] = [];
  private readonly headOnly: boolean;

  constructor(headOnly = false) {
    this.headOnly = headOnly;
  }

  /** Takes the next bytes; returns the response once it is complete. */
  push(chunk: Buffer): Http1Response | null {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.framing === undefined && !this.readHead()) return null;
    return this.readBody() ? this.response() : null;
  }

  /** Bytes past the end of a complete response: a server this confused gets a new connection next time. */
  get leftover(): boolean {
    return this.buffered.length > 0;
  }

  /** The connection ended: the response, when its body runs to the close. */
  end(): Http1Response | null {
    return this.framing?.kind === "until-close" ? this.response([...this.body, this.buffered]) : null;
  }

  private response(parts: readonly Buffer[] = this.body): Http1Response {
    return { status: this.status, headers: this.headers, body: Buffer.concat(parts) };
  }

  /** Reads the status line and headers when they have all arrived; skips 1xx answers. */
  private readHead(): boolean {
    for (;;) {
      const end = this.buffered.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.buffered.length > maxHeadBytes) throw new Error(`the server's answer has no end of headers within ${maxHeadBytes} bytes`);
        return false;
      }
      const lines = this.buffered.subarray(0, end).toString("latin1").split("\r\n");
      this.buffered = this.buffered.subarray(end + 4);
      const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? "");
      if (statusLine === null) throw new Error(`the server did not answer in HTTP/1.1: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`);
      const status = Number(statusLine[1]);
      if (status >= 100 && status <= 199) continue;
      this.status = status;
      this.headers = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon <= 0) throw new Error(`the server sent a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
        this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      this.framing = this.framingOf(status);
      return true;
    }
  }

  private framingOf(status: number): BodyFraming {
    if (this.headOnly || status === 204 || status === 304) return { kind: "length", remaining: 0 };
    if (this.headers["transfer-encoding"]?.toLowerCase().split(",").at(-1)?.trim() === "chunked") return { kind: "chunked" };
    const length = this.headers["content-length"];
    if (length === undefined) return { kind: "until-close" };
    if (!/^\d{1,15}$/.test(length)) throw new Error(`the server sent a malformed Content-Length: ${JSON.stringify(length.slice(0, 40))}`);
    return { kind: "length", remaining: Number(length) };
  }

  /** Moves what has arrived of the body out of the buffer; true once the body is complete. */
  private readBody(): boolean {
    const framing = this.framing as BodyFraming;
    if (framing.kind === "until-close") return false;
    if (framing.kind === "length") {
      const take = Math.min(framing.remaining, this.buffered.length);
      if (take > 0) this.body.push(this.buffered.subarray(0, take));
      this.buffered = this.buffered.subarray(take);
      this.framing = { kind: "length", remaining: framing.remaining - take };
      return framing.remaining - take === 0;
    }
    return this.readChunks();
  }

  /** Chunked transfer coding: size line, data, CRLF; a zero size, trailers, then an empty line end it. */
  private readChunks(): boolean {
    for (;;) {
      const lineEnd = this.buffered.indexOf("\r\n");
      if (lineEnd < 0) return false;
      const sizeText = this.buffered.subarray(0, lineEnd).toString("latin1").split(";")[0]?.trim() ?? "";
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new Error(`the server sent a malformed chunk size: ${JSON.stringify(sizeText.slice(0, 40))}`);
      const size = Number.parseInt(sizeText, 16);
      if (size === 0) {
        const trailersEnd = this.buffered.indexOf("\r\n\r\n", lineEnd);
        const bare = this.buffered.subarray(lineEnd, lineEnd + 4).toString("latin1") === "\r\n\r\n";
        if (!bare && trailersEnd < 0) return false;
        this.buffered = this.buffered.subarray((bare ? lineEnd : trailersEnd) + 4);
        return true;
      }
      if (this.buffered.length < lineEnd + 2 + size + 2) return false;
      this.body.push(this.buffered.subarray(lineEnd + 2, lineEnd + 2 + size));
      this.buffered = this.buffered.subarray(lineEnd + 2 + size + 2);
    }
  }
}
