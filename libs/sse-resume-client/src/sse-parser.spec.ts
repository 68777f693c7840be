import fc from 'fast-check';
import { SseParser, type SseEvent, type SseParserOptions } from './sse-parser.js';

interface Parsed {
  events: SseEvent[];
  retries: number[];
  comments: string[];
  lastEventId: string;
  retry: number | undefined;
}

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

/** Feeds `chunks` to a fresh parser, ends the stream and returns everything it reported. */
function parse(chunks: readonly Uint8Array[], options?: SseParserOptions): Parsed {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = new SseParser(
    {
      onEvent: (event) => events.push(event),
      onRetry: (ms) => retries.push(ms),
      onComment: (text) => comments.push(text),
    },
    options,
  );
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return { events, retries, comments, lastEventId: parser.lastEventId, retry: parser.retry };
}

const parseText = (text: string): Parsed => parse([bytes(text)]);
const message = (data: string, lastEventId = '', type = 'message'): SseEvent => ({ type, data, lastEventId });

/** Cuts `whole` at the given positions (taken modulo its length + 1, any order, repeats allowed). */
function cut(whole: Uint8Array, positions: number[]): Uint8Array[] {
  const points = [...new Set(positions.map((p) => p % (whole.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, whole.length]) {
    pieces.push(whole.slice(from, point));
    from = point;
  }
  return pieces;
}

/**
 * A deliberately naive reading of the WHATWG rules over a whole stream, written apart from
 * the parser: decode (the decoder's own BOM stripping), split on line ends, drop the
 * unterminated tail, interpret with a data buffer that gets "value\n" per data line.
 */
function reference(stream: Uint8Array): Parsed {
  const lines = new TextDecoder().decode(stream).split(/\r\n|\r|\n/);
  lines.pop();
  const parsed: Parsed = { events: [], retries: [], comments: [], lastEventId: '', retry: undefined };
  let data = '';
  let type = '';
  let idBuffer = '';
  for (const line of lines) {
    if (line === '') {
      parsed.lastEventId = idBuffer;
      if (data !== '') {
        parsed.events.push({ type: type || 'message', data: data.replace(/\n$/, ''), lastEventId: idBuffer });
      }
      data = '';
      type = '';
      continue;
    }
    if (line.startsWith(':')) {
      parsed.comments.push(line.slice(1));
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data += value + '\n';
    else if (field === 'id' && !value.includes('\0')) idBuffer = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) {
      parsed.retry = Number(value);
      parsed.retries.push(parsed.retry);
    }
  }
  return parsed;
}

describe('SseParser', () => {
  describe('the examples of the WHATWG text', () => {
    it('three messages, the second on two data lines', () => {
      const stream =
        'data: This is the first message.\n\n' +
        'data: This is the second message, it\ndata: has two lines.\n\n' +
        'data: This is the third message.\n\n';
      expect(parseText(stream).events).toEqual([
        message('This is the first message.'),
        message('This is the second message, it\nhas two lines.'),
        message('This is the third message.'),
      ]);
    });

    it('two event types, "add" and "remove"', () => {
      const stream =
        'event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n';
      expect(parseText(stream).events).toEqual([
        message('73857293', '', 'add'),
        message('2153', '', 'remove'),
        message('113411', '', 'add'),
      ]);
    });

    it('the stock ticker: one event, data "YHOO\\n+2\\n10"', () => {
      expect(parseText('data: YHOO\ndata: +2\ndata: 10\n\n').events).toEqual([message('YHOO\n+2\n10')]);
    });

    it('a comment, an id, an id reset by a bare "id" line, and a value keeping its second space', () => {
      const stream =
        ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n';
      const parsed = parseText(stream);
      expect(parsed.events).toEqual([
        message('first event', '1'),
        message('second event'),
        message(' third event'),
      ]);
      expect(parsed.comments).toEqual([' test stream']);
    });

    it('"data" alone gives an empty event, two give "\\n", a last unterminated event is discarded', () => {
      expect(parseText('data\n\ndata\ndata\n\ndata:').events).toEqual([message(''), message('\n')]);
    });

    it('"data:test" and "data: test" are the same event', () => {
      expect(parseText('data:test\n\ndata: test\n\n').events).toEqual([message('test'), message('test')]);
    });
  });

  describe('line endings', () => {
    it.each([
      ['LF', '\n'],
      ['CRLF', '\r\n'],
      ['CR', '\r'],
    ])('lines ended by %s', (_name, eol) => {
      const stream = ['event: e', 'data: a', 'data: b', 'id: 7', '', 'data: c', '', ''].join(eol);
      expect(parseText(stream).events).toEqual([message('a\nb', '7', 'e'), message('c', '7')]);
    });

    it('all three mixed in one stream', () => {
      expect(parseText('data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\n').events).toEqual([
        message('a\nb\nc'),
        message('d'),
        message('e'),
      ]);
    });

    it('a CR ending one chunk and an LF starting the next are one line end', () => {
      const parsed = parse([bytes('data: a\r'), bytes('\ndata: b\r'), bytes('\n\r'), bytes('\n')]);
      expect(parsed.events).toEqual([message('a\nb')]);
    });

    it('the CR/LF pair split across chunks, with empty chunks between', () => {
      const chunks = ['data: a\r', '', '', '\ndata: b\r\n\r', '\n'].map(bytes);
      expect(parse(chunks).events).toEqual([message('a\nb')]);
    });

    it('a CR ending a chunk dispatches at once, without waiting for the next chunk', () => {
      const events: SseEvent[] = [];
      const parser = new SseParser({ onEvent: (e) => events.push(e) });
      parser.push(bytes('data: a\r\r'));
      expect(events).toEqual([message('a')]);
    });
  });

  describe('byte order mark', () => {
    it('a leading BOM is dropped', () => {
      expect(parse([new Uint8Array([0xef, 0xbb, 0xbf, ...bytes('data: a\n\n')])]).events).toEqual([
        message('a'),
      ]);
    });

    it('a leading BOM split over three byte chunks is dropped', () => {
      const parsed = parse([
        new Uint8Array([0xef]),
        new Uint8Array([0xbb]),
        new Uint8Array([0xbf]),
        bytes('data: a\n\n'),
      ]);
      expect(parsed.events).toEqual([message('a')]);
    });

    it('a leading BOM alone in the first chunk is dropped', () => {
      expect(parse([bytes('\ufeff'), bytes('data: a\n\n')]).events).toEqual([message('a')]);
    });

    it('only one BOM is dropped: a second one makes the first field unknown', () => {
      expect(parseText('\ufeff\ufeffdata: a\n\ndata: b\n\n').events).toEqual([message('b')]);
    });

    it('a BOM later in the stream is ordinary text', () => {
      expect(parseText('data: a\n\n\ufeffdata: b\n\ndata: \ufeffc\n\n').events).toEqual([
        message('a'),
        message('\ufeffc'),
      ]);
    });
  });

  describe('fields', () => {
    it('comment lines are reported, not dispatched, and do not end an event', () => {
      const parsed = parseText(':hello\ndata: a\n: keep-alive\ndata: b\n\n:\n');
      expect(parsed.events).toEqual([message('a\nb')]);
      expect(parsed.comments).toEqual(['hello', ' keep-alive', '']);
    });

    it('a line without a colon is a field named by the whole line with an empty value', () => {
      expect(parseText('event: x\nevent\ndata\ndata: a\n\nretry\n').events).toEqual([message('\na')]);
    });

    it('the value is split at the first colon and loses one leading space only', () => {
      expect(parseText('data:  a: b:c\n\ndata:\tt\n\n').events).toEqual([message(' a: b:c'), message('\tt')]);
    });

    it('field names are case-sensitive and unknown fields are ignored', () => {
      expect(parseText('Data: no\nDATA: no\nfoo: bar\ndata : no\ndata: yes\n\n').events).toEqual([
        message('yes'),
      ]);
    });

    it('an empty "event" gives type "message"', () => {
      expect(parseText('event:\ndata: a\n\n').events).toEqual([message('a')]);
    });

    it('without data there is no dispatch, but the event type is reset', () => {
      expect(parseText('event: lost\n\ndata: a\n\n').events).toEqual([message('a')]);
    });

    it('an empty data line adds an empty line to the data', () => {
      expect(parseText('data: a\ndata:\n\ndata:\ndata: b\n\n').events).toEqual([
        message('a\n'),
        message('\nb'),
      ]);
    });

    it('values keep NUL and other control characters, except in "id"', () => {
      expect(parseText('event: t\0\ndata: \0\x01\n\n').events).toEqual([message('\0\x01', '', 't\0')]);
    });
  });

  describe('id', () => {
    it('persists across events until another id line', () => {
      expect(parseText('id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n').events).toEqual([
        message('a', '1'),
        message('b', '1'),
        message('c', '2'),
      ]);
    });

    it('an empty id resets it', () => {
      expect(parseText('id: 1\ndata: a\n\nid:\ndata: b\n\nid: \ndata: c\n\n').events).toEqual([
        message('a', '1'),
        message('b'),
        message('c'),
      ]);
    });

    it('an id containing NUL is ignored', () => {
      expect(parseText('id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid: \0\ndata: c\n\n').events).toEqual([
        message('a', '1'),
        message('b', '1'),
        message('c', '1'),
      ]);
    });

    it('applies to the whole event whichever line it comes on', () => {
      expect(parseText('data: a\nid: 5\ndata: b\n\n').events).toEqual([message('a\nb', '5')]);
    });

    it('lastEventId changes at a dispatch, including one without data, not at the id line', () => {
      const parser = new SseParser({ onEvent: () => undefined });
      parser.push(bytes('id: 1\n'));
      expect(parser.lastEventId).toBe('');
      parser.push(bytes('\n'));
      expect(parser.lastEventId).toBe('1');
      parser.push(bytes('id: 2\n'));
      parser.end();
      expect(parser.lastEventId).toBe('1');
    });

    it('options.lastEventId seeds the buffer for events that carry no id', () => {
      const parsed = parse([bytes('data: a\n\nid: 9\ndata: b\n\n')], { lastEventId: '41' });
      expect(parsed.events).toEqual([message('a', '41'), message('b', '9')]);
      expect(parsed.lastEventId).toBe('9');
    });
  });

  describe('retry', () => {
    it('ASCII digits set the reconnection time, reported at once', () => {
      const parsed = parseText('retry: 1000\nretry:0\ndata: a\n\nretry: 0042\n');
      expect(parsed.retries).toEqual([1000, 0, 42]);
      expect(parsed.retry).toBe(42);
      expect(parsed.events).toEqual([message('a')]);
    });

    it.each([
      ['retry: -1'],
      ['retry: 1.5'],
      ['retry: 1e3'],
      ['retry: 10 '],
      ['retry:  10'],
      ['retry: 0x10'],
      ['retry:'],
      ['retry'],
      ['retry: ١٢'],
      ['retry: １２'],
      ['retry: 9007199254740993'],
    ])('ignored when not only ASCII digits, or not exact: %j', (line) => {
      const parsed = parseText(`retry: 5\n${line}\n`);
      expect(parsed.retries).toEqual([5]);
      expect(parsed.retry).toBe(5);
    });
  });

  describe('UTF-8', () => {
    const text = 'event: é€\ndata: 😀 ü 日本 𝄞\nid: ψ\n\n';

    it('multi-byte characters cut byte by byte', () => {
      const whole = bytes(text);
      const oneByteChunks = Array.from(whole, (byte) => new Uint8Array([byte]));
      const expected = [message('😀 ü 日本 𝄞', 'ψ', 'é€')];
      expect(parseText(text).events).toEqual(expected);
      expect(parse(oneByteChunks).events).toEqual(expected);
    });

    it('invalid sequences become U+FFFD, even when cut', () => {
      const whole = new Uint8Array([...bytes('data: '), 0xff, 0xc3, 0x41, 0xe2, 0x82, 0x0a, 0x0a]);
      const expected = [message('\ufffd\ufffdA\ufffd')];
      expect(parse([whole]).events).toEqual(expected);
      expect(parse(Array.from(whole, (byte) => new Uint8Array([byte]))).events).toEqual(expected);
    });

    it('a chunk ending inside a character holds it back, even across an empty chunk', () => {
      const events: SseEvent[] = [];
      const parser = new SseParser({ onEvent: (e) => events.push(e) });
      const emoji = bytes('😀');
      parser.push(new Uint8Array([...bytes('data: a'), ...emoji.slice(0, 2)]));
      parser.push(new Uint8Array(0));
      expect(events).toEqual([]);
      parser.push(new Uint8Array([...emoji.slice(2), ...bytes('\n\n')]));
      expect(events).toEqual([message('a😀')]);
    });
  });

  describe('end()', () => {
    it('discards an unterminated line and an event without its empty line', () => {
      expect(parseText('data: a\n\ndata: b\n').events).toEqual([message('a')]);
      expect(parseText('data: a\n\nretry: 10').retries).toEqual([]);
      expect(parseText('data: a\n\n:comment').comments).toEqual([]);
    });

    it('is idempotent; push() after it throws', () => {
      const parser = new SseParser({ onEvent: () => undefined });
      parser.end();
      parser.end();
      expect(() => parser.push(bytes('data: a\n\n'))).toThrow('push() after end()');
    });

    it('push() takes bytes only: a string chunk is a TypeError', () => {
      const parser = new SseParser({ onEvent: () => undefined });
      // (by name: jest runs the spec in another realm than Node's TextDecoder)
      expect(() => parser.push('data: a\n\n' as unknown as Uint8Array)).toThrow(
        expect.objectContaining({ name: 'TypeError' }),
      );
    });
  });

  describe('properties', () => {
    const piece = fc.constantFrom(
      'data',
      'data:',
      'data: ',
      'event:',
      'event: ',
      'id:',
      'id: ',
      'id',
      'retry:',
      'retry: ',
      'retry',
      ':',
      ' ',
      'x',
      'é',
      '€',
      '😀',
      '\0',
      '1',
      '42',
      '\ufeff',
      '\r',
      '\n',
      '\r\n',
      '\n\n',
      '\r\r',
      '\r\n\r\n',
    );
    const stream = fc
      .tuple(fc.boolean(), fc.array(piece, { maxLength: 60 }))
      .map(([bom, pieces]) => bytes((bom ? '\ufeff' : '') + pieces.join('')));
    /**
     * Bytes biased towards field names, line ends, colons, BOM, and multi-byte characters
     * whole, truncated or invalid.
     */
    const rawStream = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            ...['data:', 'data', 'id:', 'event:', 'retry:', ':', ' ', '\r', '\n', '\r\n', '7', 'é', '😀'].map(
              bytes,
            ),
          ),
          fc
            .constantFrom(
              [0xef, 0xbb, 0xbf],
              [0xff],
              [0x80],
              [0xc3],
              [0xe2, 0x82],
              [0xf0, 0x9f, 0x98],
              [0xed, 0xa0, 0x80],
              [0x00],
            )
            .map((list) => new Uint8Array(list)),
          fc.integer({ min: 0, max: 255 }).map((byte) => new Uint8Array([byte])),
        ),
        { maxLength: 60 },
      )
      .map((parts) => {
        const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
        let offset = 0;
        for (const part of parts) {
          whole.set(part, offset);
          offset += part.length;
        }
        return whole;
      });
    const cuts = fc.array(fc.nat(), { maxLength: 24 });

    it('any split of an SSE byte stream parses like the whole stream', () => {
      fc.assert(
        fc.property(stream, cuts, (whole, positions) => {
          expect(parse(cut(whole, positions))).toEqual(parse([whole]));
        }),
        { numRuns: 1000 },
      );
    });

    it('any split of arbitrary bytes (invalid UTF-8 included) parses like the whole', () => {
      fc.assert(
        fc.property(rawStream, cuts, (whole, positions) => {
          expect(parse(cut(whole, positions))).toEqual(parse([whole]));
        }),
        { numRuns: 1000 },
      );
    });

    it('agrees with a naive whole-stream reading of the rules', () => {
      fc.assert(
        fc.property(fc.oneof(stream, rawStream), cuts, (whole, positions) => {
          expect(parse(cut(whole, positions))).toEqual(reference(whole));
        }),
        { numRuns: 1000 },
      );
    });
  });
});
