import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { startCuttingProxy } from './utils/cutting-proxy';
import { rawRequest } from '@app/sse-resume/testing/raw-http';
import { Random } from '@app/sse-resume/testing/prng';
import { commentFrames, eventFrames, parseFrames } from '@app/sse-resume/testing/sse';

/** The e2e tools are trusted by every other test: check them against known input first. */
describe('test utilities', () => {
  describe('parseFrames', () => {
    it('keeps exact lines, splits fields, collects comments, returns an unterminated tail as rest', () => {
      const text =
        '\nid: 0\nretry: 2000\n\n: ping\n\nevent: progress\nid: 1\ndata: {"a":1}\ndata: second\n\n' +
        'event: end\nid: 2\ndata:{"status":"completed"}\n\nevent: progress\nid: 3\ndata: {"cut';
      const { frames, rest } = parseFrames(text);
      expect(frames.map((frame) => frame.lines)).toEqual([
        ['id: 0', 'retry: 2000'],
        [': ping'],
        ['event: progress', 'id: 1', 'data: {"a":1}', 'data: second'],
        ['event: end', 'id: 2', 'data:{"status":"completed"}'],
      ]);
      expect(frames[0]).toMatchObject({ id: '0', retry: '2000', data: [] });
      expect(frames[2]).toMatchObject({ event: 'progress', id: '1', data: ['{"a":1}', 'second'] });
      expect(frames[3]!.data).toEqual(['{"status":"completed"}']);
      expect(commentFrames(frames)).toHaveLength(1);
      expect(eventFrames(frames).map((frame) => frame.id)).toEqual(['1', '2']);
      expect(rest).toBe('event: progress\nid: 3\ndata: {"cut');
    });

    it('rejects fields the server never sends', () => {
      expect(() => parseFrames('bogus: 1\n\n')).toThrow(/unexpected SSE field/);
    });
  });

  describe('raw HTTP client', () => {
    let server: Server;
    let base: string;

    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/chunked') {
          res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Twice': ['a', 'b'] });
          res.write('\nid: 0\n');
          setTimeout(() => res.end('retry: 5\n\n' + 'ééé'), 10);
        } else if (req.url === '/length') {
          res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': '7' }).end('{"a":1}');
        } else if (req.url === '/no-content') {
          res.writeHead(204).end();
        } else {
          // Echo the request head exactly.
          res.setHeader('Connection', 'close');
          res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.rawHeaders }));
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('de-chunks the body into its exact bytes, with the status line and headers', async () => {
      const response = await rawRequest(`${base}/chunked`);
      expect(response.statusLine).toBe('HTTP/1.1 200 OK');
      expect(response.headers['content-type']).toBe('text/event-stream');
      expect(response.headers['x-twice']).toBe('a, b');
      expect(response.endedBy).toBe('complete');
      expect(response.body.equals(Buffer.from('\nid: 0\nretry: 5\n\nééé'))).toBe(true);
    });

    it('reads Content-Length bodies and bodiless 204s', async () => {
      const withLength = await rawRequest(`${base}/length`);
      expect([withLength.status, withLength.text, withLength.endedBy]).toEqual([201, '{"a":1}', 'complete']);
      const noContent = await rawRequest(`${base}/no-content`);
      expect([noContent.status, noContent.body.length, noContent.endedBy]).toEqual([204, 0, 'complete']);
    });

    it('sends exactly the given method, path, headers and body', async () => {
      const response = await rawRequest(`${base}/echo?x=1`, {
        method: 'POST',
        headers: { 'Last-Event-ID': '42', 'X-Many': '9'.repeat(5000) },
        body: '{}',
      });
      const echoed = JSON.parse(response.text) as { method: string; url: string; headers: string[] };
      expect(echoed.method).toBe('POST');
      expect(echoed.url).toBe('/echo?x=1');
      expect(echoed.headers).toEqual(expect.arrayContaining(['Last-Event-ID', '42', 'Content-Length', '2']));
      expect(echoed.headers).toContain('9'.repeat(5000));
    });
  });

  describe('cutting proxy', () => {
    it('forwards exactly the budget of bytes, then cuts alternately with FIN and RST', async () => {
      const payload = Buffer.alloc(50_000, 'x');
      const target = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Length': String(payload.length) }).end(payload);
      });
      await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
      const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
      const seed = 1234;
      const proxy = await startCuttingProxy({ target: targetUrl, seed, minBytes: 1_000, maxBytes: 5_000 });
      const expected = new Random(seed);
      try {
        for (let i = 0; i < 4; i++) {
          const budget = expected.int(1_000, 5_000);
          const outcome = await new Promise<{ bytes: number; ended: string }>((resolve) => {
            const socket = connect({ host: '127.0.0.1', port: proxy.port });
            let bytes = 0;
            socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
            socket.on('data', (data: Buffer) => (bytes += data.length));
            socket.on('end', () => resolve({ bytes, ended: 'fin' }));
            socket.on('error', (error: NodeJS.ErrnoException) =>
              resolve({ bytes, ended: error.code ?? 'error' }),
            );
          });
          expect(outcome).toEqual({ bytes: budget, ended: i % 2 === 0 ? 'fin' : 'ECONNRESET' });
        }
        expect(proxy.cuts.map((cut) => cut.kind)).toEqual(['fin', 'reset', 'fin', 'reset']);
        expect(proxy.cuts[0]!.requestLine).toBe('GET / HTTP/1.1');
      } finally {
        await proxy.close();
        await new Promise<void>((resolve) => target.close(() => resolve()));
      }
    });
  });
});
