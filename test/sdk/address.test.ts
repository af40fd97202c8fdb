// parseAddr's dotted-quad fast path must accept exactly what ipaddr.js accepted
// before it (isValidFourPartDecimal after trim and [] stripping), with the same
// value; the reference below is the ipaddr.js-only parser it replaced.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { parseAddr } from '../../sdk/address.js';

function reference(text: string): { af: number; w: number[] } | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
    const b = ipaddr.IPv4.parse(s).toByteArray();
    return { af: 4, w: [((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0, 0, 0, 0] };
  }
  if (s.includes(':') && ipaddr.IPv6.isValid(s)) {
    const a = ipaddr.IPv6.parse(s);
    if (a.zoneId) return null;
    const b = a.toByteArray();
    const w = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) w[i] = ((b[4 * i] << 24) | (b[4 * i + 1] << 16) | (b[4 * i + 2] << 8) | b[4 * i + 3]) >>> 0;
    return { af: 6, w };
  }
  return null;
}

/** Parts that are valid, out of range, zero-padded, signed, hex, empty or odd characters. */
const part = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map(String),
  fc.integer({ min: 0, max: 99999 }).map(String),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 255 })).map(([z, n]) => '0'.repeat(z) + n),
  fc.constantFrom('', '+1', '-0', '0x1f', '1e2', ' 1', '1 ', '٣', '１', '00', '000', '0', '255', '256', '1.'),
);
const quad = fc.tuple(fc.array(part, { minLength: 1, maxLength: 6 }), fc.constantFrom('', ' ', '[', '\n'))
  .map(([ps, wrap]) => (wrap === '[' ? `[${ps.join('.')}]` : `${wrap}${ps.join('.')}${wrap}`));

describe('parseAddr', () => {
  it('agrees with ipaddr.js on dotted quads, valid and invalid', () => {
    fc.assert(fc.property(quad, (s) => { expect(parseAddr(s)).toEqual(reference(s)); }), { numRuns: 5000 });
  });

  it('agrees with ipaddr.js on random strings over address characters', () => {
    const chars = fc.constantFrom(...'0123456789.:abfx[] %'.split(''));
    fc.assert(fc.property(fc.string({ unit: chars, maxLength: 20 }), (s) => { expect(parseAddr(s)).toEqual(reference(s)); }), { numRuns: 5000 });
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (s) => { expect(parseAddr(s)).toEqual(reference(s)); }), { numRuns: 2000 });
  });

  it('agrees with ipaddr.js on every valid address', () => {
    fc.assert(fc.property(fc.ipV4(), (s) => { expect(parseAddr(s)).toEqual(reference(s)); }), { numRuns: 2000 });
    fc.assert(fc.property(fc.ipV6(), (s) => { expect(parseAddr(s)).toEqual(reference(s)); }), { numRuns: 1000 });
  });

  it('parses the edge cases to the expected words', () => {
    expect(parseAddr('0.0.0.0')).toEqual({ af: 4, w: [0, 0, 0, 0] });
    expect(parseAddr('255.255.255.255')).toEqual({ af: 4, w: [0xffffffff, 0, 0, 0] });
    expect(parseAddr(' [198.18.0.1] ')).toEqual({ af: 4, w: [0xc6120001, 0, 0, 0] });
    for (const bad of ['01.2.3.4', '1.2.3.256', '1.2.3', '1.2.3.4.5', '0x1.2.3.4', '1..3.4', '1.2.3.4.']) {
      expect(parseAddr(bad)).toBeNull();
    }
  });
});
