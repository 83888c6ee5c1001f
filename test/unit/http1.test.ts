// The API client's HTTP/1.1 transport (src/adapters/kubernetes/http1.ts) against a TLS server on
// loopback that answers byte for byte as a test says: every way a response may be framed, split
// at any point; kept-alive connections reused and replaced when the server closed them; timeouts,
// broken answers and an untrusted server reported, never hung on.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createServer, type Server, type TLSSocket } from "node:tls";
import { Http1Connections, type Http1Request, ResponseParser } from "../../src/adapters/kubernetes/http1.ts";
import { scratchDir } from "../helpers/cmk.ts";
import { type Issued, issue, makeCa } from "../helpers/tls.ts";

const get: Http1Request = { method: "GET", path: "/api/v1/namespaces/default/configmaps/x", headers: { Accept: "application/json" }, timeoutMs: 5000 };

/** Feeds `text` to a parser in pieces of `size` bytes; the response once complete. */
function parseInPieces(text: string, size: number, headOnly = false): ReturnType<ResponseParser["push"]> {
  const parser = new ResponseParser(headOnly);
  const bytes = Buffer.from(text, "latin1");
  let response: ReturnType<ResponseParser["push"]> = null;
  for (let at = 0; at < bytes.length; at += size) {
    assert.equal(response, null, `complete before byte ${at}`);
    response = parser.push(bytes.subarray(at, at + size));
  }
  return response;
}

describe("ResponseParser: how a response is framed", () => {
  const cases: [string, string, number, string][] = [
    ["Content-Length", 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a":"bcd"}', 200, '{"a":"bcd"}'],
    [
      "chunked, with an extension and trailers",
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n",
      201,
      "Wikipedia",
    ],
    ["chunked, no trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n", 200, "0123456789"],
    ["after a 100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\nno", 409, "no"],
    ["204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", 204, ""],
    ["an empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, ""],
  ];
  for (const [name, text, status, body] of cases) {
    it(`${name}: the same response whichever way the bytes are split`, () => {
      for (const size of [1, 2, 3, 7, 64, text.length]) {
        const response = parseInPieces(text, size);
        assert.ok(response !== null, `incomplete in pieces of ${size}`);
        assert.equal(response.status, status);
        assert.equal(response.body.toString("latin1"), body);
      }
    });
  }

  it("keeps header names in lower case and values trimmed", () => {
    const response = parseInPieces("HTTP/1.1 429 Too Many Requests\r\nRetry-After:  3 \r\ncontent-length: 0\r\n\r\n", 5);
    assert.equal(response?.headers["retry-after"], "3");
  });

  it("a body without a length runs to the end of the connection", () => {
    const parser = new ResponseParser();
    assert.equal(parser.push(Buffer.from("HTTP/1.0 200 OK\r\n\r\npart one, ")), null);
    assert.equal(parser.push(Buffer.from("part two")), null);
    assert.equal(parser.end()?.body.toString(), "part one, part two");
  });

  it("a HEAD answer has no body whatever its Content-Length", () => {
    assert.equal(parseInPieces("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 4, true)?.body.length, 0);
  });

  it("says when bytes past a complete response arrived", () => {
    const parser = new ResponseParser();
    assert.ok(parser.push(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA")) !== null);
    assert.equal(parser.leftover, true);
  });

  const broken: [string, string, RegExp][] = [
    ["not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", /did not answer in HTTP\/1\.1/],
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", /malformed header line/],
    ["a Content-Length that is no number", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", /malformed Content-Length/],
    ["a chunk size that is no hex number", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /malformed chunk size/],
  ];
  for (const [name, text, error] of broken) {
    it(`refuses ${name}`, () => assert.throws(() => new ResponseParser().push(Buffer.from(text)), error));
  }

  it("refuses a head that never ends rather than buffering it for ever", () => {
    const parser = new ResponseParser();
    assert.equal(parser.push(Buffer.from("HTTP/1.1 200 OK\r\n")), null);
    assert.throws(() => parser.push(Buffer.alloc(70 * 1024, "a")), /no end of headers within/);
  });
});

/** A TLS server whose every connection is handed to `answer`, counting connections. */
interface Scripted {
  readonly server: Server;
  readonly port: number;
  connections: number;
  answer: (socket: TLSSocket, request: string) => void;
}

describe("Http1Connections against a TLS server on loopback", () => {
  const dir = scratchDir("http1");
  let ca: Issued;
  let other: Issued;
  let scripted: Scripted;

  before(async () => {
    ca = await makeCa(dir, "ca");
    other = await makeCa(dir, "other-ca");
    const serving = await issue(dir, ca, "server", "server");
    const server = createServer({ cert: serving.cert, key: serving.key });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const state: Scripted = {
      server,
      port: (server.address() as { port: number }).port,
      connections: 0,
      answer: (socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    };
    server.on("secureConnection", (socket: TLSSocket) => {
      state.connections++;
      let pending = "";
      socket.on("data", (chunk: Buffer) => {
        pending += chunk.toString("latin1");
        // One request at a time: the head, then Content-Length bytes of body.
        for (;;) {
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) return;
          const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
          if (pending.length < end + 4 + length) return;
          const request = pending.slice(0, end + 4 + length);
          pending = pending.slice(end + 4 + length);
          state.answer(socket, request);
        }
      });
      socket.on("error", () => {});
    });
    scripted = state;
  });
  after(() => scripted.server.close());

  const pool = (trust: Issued = ca, max = 4): Http1Connections => new Http1Connections({ host: "127.0.0.1", port: scripted.port, ca: trust.cert }, max);
  const keepAlive = (body: string) => (socket: TLSSocket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);

  it("sends the method, path, Host and headers, and the body, and reads the answer", async () => {
    let seen = "";
    scripted.answer = (socket, request) => {
      seen = request;
      keepAlive('{"kind":"ConfigMap"}')(socket);
    };
    const connections = pool();
    const response = await connections.request({ ...get, method: "PUT", headers: { "Content-Length": "7" }, body: '{"a":1}' });
    connections.close();
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), '{"kind":"ConfigMap"}');
    assert.match(
      seen,
      new RegExp(
        `^PUT /api/v1/namespaces/default/configmaps/x HTTP/1\\.1\\r\\nHost: 127\\.0\\.0\\.1:${scripted.port}\\r\\nContent-Length: 7\\r\\n\\r\\n\\{"a":1\\}$`,
      ),
    );
  });

  it("keeps one connection for requests one after another", async () => {
    scripted.answer = keepAlive("ok");
    const before = scripted.connections;
    const connections = pool();
    for (let i = 0; i < 5; i++) assert.equal((await connections.request(get)).body.toString(), "ok");
    connections.close();
    assert.equal(scripted.connections - before, 1);
  });

  it("opens no more connections than its limit, and queues the rest", async () => {
    const held: TLSSocket[] = [];
    scripted.answer = (socket) => {
      held.push(socket);
      if (held.length === 2) for (const waiting of held.splice(0)) keepAlive("ok")(waiting);
    };
    const before = scripted.connections;
    const connections = pool(ca, 2);
    const answers = await Promise.all(Array.from({ length: 6 }, () => connections.request(get)));
    connections.close();
    assert.deepEqual(
      answers.map((answer) => answer.body.toString()),
      Array(6).fill("ok"),
    );
    assert.equal(scripted.connections - before, 2);
  });

  it("replaces a kept-alive connection the server closed while it sat idle", async () => {
    scripted.answer = (socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    const before = scripted.connections;
    const connections = pool();
    await connections.request(get);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await connections.request(get)).body.toString(), "ok");
    connections.close();
    assert.equal(scripted.connections - before, 2);
  });

  it("sends once more when a reused connection is closed before any answer, and only once", async () => {
    let requests = 0;
    scripted.answer = (socket) => {
      requests++;
      // The first answer keeps the connection; the second request is dropped unanswered.
      if (requests === 1) keepAlive("first")(socket);
      else if (requests === 2) socket.destroy();
      else keepAlive("again")(socket);
    };
    const connections = pool();
    assert.equal((await connections.request(get)).body.toString(), "first");
    assert.equal((await connections.request(get)).body.toString(), "again");
    assert.equal(requests, 3);
    // On a new connection, an unanswered request is an error: nothing says the server did not act on it.
    scripted.answer = (socket) => socket.destroy();
    connections.close();
    await assert.rejects(pool().request(get), /the server closed the connection without answering/);
  });

  it("a connection that breaks in the middle of an answer is an error, not a retry", async () => {
    scripted.answer = (socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
      setTimeout(() => socket.destroy(), 20);
    };
    await assert.rejects(pool().request(get), /closed the connection in the middle of its answer/);
  });

  it("gives up after the request's time limit", async () => {
    scripted.answer = () => {};
    const started = performance.now();
    await assert.rejects(pool().request({ ...get, timeoutMs: 300 }), /no answer within 0\.3 s/);
    assert.ok(performance.now() - started < 3000);
  });

  it("does not reuse a connection after an answer with Connection: close, or with bytes past its end", async () => {
    const before = scripted.connections;
    const connections = pool();
    scripted.answer = (socket) => socket.write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    await connections.request(get);
    scripted.answer = (socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n");
    await connections.request(get);
    scripted.answer = keepAlive("ok");
    await connections.request(get);
    connections.close();
    assert.equal(scripted.connections - before, 3);
  });

  it("refuses a server whose certificate another authority signed, with OpenSSL's code", async () => {
    scripted.answer = keepAlive("ok");
    await assert.rejects(pool(other).request(get), (error: NodeJS.ErrnoException) => {
      assert.match(error.code ?? "", /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED/);
      return true;
    });
  });

  it("refuses a header value with a line break instead of sending it", async () => {
    scripted.answer = keepAlive("ok");
    await assert.rejects(pool().request({ ...get, headers: { Authorization: "Bearer x\r\nX-Evil: 1" } }), /holds a line break/);
  });
});
