// The core's data path holds no managed object: built with the incremental
// runtime, no function reachable from a data-path export touches the shadow
// stack, and in the shipped stub build nothing reachable from an export
// allocates through the runtime (scripts/check-core.mjs explains both).
import { describe, it, expect } from 'vitest';
import { checkCore, parseWat, reachable } from '../../scripts/check-core.mjs';

describe('core runtime check', () => {
  it('finds shadow-stack use and runtime allocation in a tiny .wat (the check can fail)', () => {
    const wat = [
      '(module',
      ' (func $a (param i32)',
      '  call $b',
      ' )',
      ' (func $b',
      '  global.get $~lib/memory/__stack_pointer',
      '  (call $~lib/rt/stub/__alloc)',
      ' )',
      ' (func $c',
      ' )',
      ' (export "schedule" (func $a))',
      ')',
    ].join('\n');
    const { funcs, exports } = parseWat(wat);
    expect(exports.get('schedule')).toBe('$a');
    const r = reachable(funcs, ['$a']);
    expect([...r].sort()).toEqual(['$a', '$b']);
    expect(funcs.get('$b')).toContain('__stack_pointer');
    expect(funcs.get('$c')).not.toContain('__stack_pointer');
  });

  it('the real core: no data-path function touches the shadow stack or allocates', () => {
    const r = checkCore();
    expect(r.dataPathFunctions).toBeGreaterThan(0);
    expect(r.shadow).toEqual([]);
    expect(r.allocating).toEqual([]);
  }, 120_000);
});
