// A connection listing leaves the daemon a core page at a time: the handler
// answers with a PagedList, the session serializes it page by page (pulling
// the next page only when the previous piece has been written), and the
// bytes are exactly the plain reply's.
import { describe, it, expect } from 'vitest';
import { ControlHandler } from '../../daemon/handler.js';
import { PagedList, replyPieces } from '../../daemon/reply-stream.js';
import type { Reply } from '../../ipvsadm/protocol.js';
import { director, tcp80 } from '../helpers.js';

describe('paged connection listings', () => {
  it('pieces of a paged reply join to JSON.stringify of the plain reply, and pages are pulled lazily', () => {
    let pulled = 0;
    const pages = function* () {
      for (let p = 0; p < 3; p++) {
        pulled++;
        yield Array.from({ length: 500 }, (_, i) => ({ id: p * 500 + i, state: 'ESTABLISHED' }));
      }
    };
    const reply = { id: 7, ok: true, connections: new PagedList(pages) } as unknown as Reply;
    const plain = { id: 7, ok: true, connections: [...pages()].flat() };
    pulled = 0;
    const it = replyPieces(reply, 4096)[Symbol.iterator]();
    const first = it.next();
    expect(first.done).toBe(false);
    expect(pulled).toBe(1);
    const rest: string[] = [];
    for (let r = it.next(); !r.done; r = it.next()) rest.push(r.value);
    expect(pulled).toBe(3);
    expect(first.value + rest.join('')).toBe(JSON.stringify(plain) + '\n');
    expect(JSON.stringify(reply)).toBe(JSON.stringify(plain));
  });

  it('an empty paged list is an empty array', () => {
    const reply = { id: 1, ok: true, connections: new PagedList(() => [[]]) } as unknown as Reply;
    expect([...replyPieces(reply, 4096)].join('')).toBe('{"id":1,"ok":true,"connections":[]}\n');
  });

  it('the handler pages the core: 3,000 connections, several pages, same entries as connections()', async () => {
    const d = await director(4);
    d.addService(tcp80, { scheduler: 'rr' });
    d.addDest(tcp80, { address: '198.18.1.1' });
    for (let p = 1; p <= 3000; p++) {
      d.packet({ protocol: 'tcp', direction: 'in', client: { address: '198.18.9.9', port: p }, virtual: { address: '198.18.0.1', port: 80 }, flags: 0x02, length: 60 }, 1);
    }
    expect([...d.connectionPages(1)].length).toBeGreaterThan(1);
    const h = new ControlHandler(d, { size: 4096, mode: 'proxy', dataPath: 'none', abiVersion: 0x10000 });
    const reply = h.handle({ id: 3, op: 'connections' });
    const text = [...replyPieces(reply, 64 * 1024)].join('');
    const parsed = JSON.parse(text) as { connections: { id: number }[] };
    expect(parsed.connections.map((c) => c.id)).toEqual(d.connections(1).map((c) => c.id));
    expect(parsed.connections).toHaveLength(3000);
  });
});
