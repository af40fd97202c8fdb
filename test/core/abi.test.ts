// One declaration of the boundary: the SDK mirror, the addon header and the
// reference tables of docs/abi.md are generated from assembly/abi and
// assembly/index.ts, and the built core exports exactly what index.ts declares.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync, cpSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout } from '../../sdk/core/abi.gen.js';

const root = join(import.meta.dirname, '../..');

describe('ABI generation', () => {
  it('generated files and the built exports match the declaration', () => {
    const out = execFileSync(process.execPath, ['scripts/gen-abi.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(out).toContain('match');
  });

  it('the check fails when a layout constant changes and the outputs are not regenerated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmvs-abi-'));
    try {
      for (const p of ['scripts', 'assembly', 'docs', 'sdk/core', 'native/src']) cpSync(join(root, p), join(dir, p), { recursive: true });
      const f = join(dir, 'assembly/abi/layout.ts');
      writeFileSync(f, readFileSync(f, 'utf8').replace('export const GW_VER_SIZE: u32 = 24;', 'export const GW_VER_SIZE: u32 = 28;'));
      const r = spawnSync(process.execPath, ['scripts/gen-abi.mjs', '--check'], { cwd: dir, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('sdk/core/abi.gen.ts');
      expect(r.stderr).toContain('native/src/abi.gen.h');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the addon's packet record offsets equal the generated GW_REC_* values", () => {
    const h = readFileSync(join(root, 'native/src/nfq_socket.h'), 'utf8');
    const rec = (name: string) => Number(new RegExp(`constexpr uint32_t REC_${name} = (\\d+);`).exec(h)?.[1]);
    expect(rec('ID')).toBe(layout.GW_REC_ID);
    expect(rec('MARK')).toBe(layout.GW_REC_MARK);
    expect(rec('LEN')).toBe(layout.GW_REC_LEN);
    expect(rec('ORIG_LEN')).toBe(layout.GW_REC_ORIG_LEN);
    expect(rec('FLAGS')).toBe(layout.GW_REC_FLAGS);
    expect(rec('HEADER')).toBe(layout.GW_REC_HEADER);
    const gen = readFileSync(join(root, 'native/src/abi.gen.h'), 'utf8');
    expect(gen).toContain(`#define WASMVS_GW_REC_HEADER (${layout.GW_REC_HEADER}u)`);
  });
});
