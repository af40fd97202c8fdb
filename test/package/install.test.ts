// What an npm user meets: the packed tarball installed into a fresh project
// outside the repository (offline, from the npm cache), then the bins through
// npx, the SDK in Node, browser bundles (esbuild, and Vite and webpack with
// no configuration) in Chromium, the
// messages for the optional parts (proxy peers, gateway addon), signals
// through npx, and the addon built from the installed package.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { ROOT, packTarball, installProject, cleanEnv, type Project } from './project.js';
import { startDaemon, serveDir, canUnshareNet, canBuildAddon, libmnlMissing, withoutLibmnl } from './helpers.js';
import { chromiumMissing, launch } from '../playground/browser.js';

const CI = process.env.CI === 'true';
/** The prebuilt gateway addon the package ships (prebuildify's name for a Node-API glibc build). */
const PREBUILT = 'prebuilds/linux-x64/node.glibc.node';

function prerequisites(): { sdk?: Project; peers?: Project; web?: Project; files?: string[]; missing?: string } {
  for (const f of ['build/wasmvs.wasm', 'dist/sdk/index.js']) {
    if (!existsSync(join(ROOT, f))) return { missing: `${f} is not built (npm run build)` };
  }
  if (!existsSync(join(ROOT, PREBUILT))) return { missing: `${PREBUILT} is not built (npm run build:native)` };
  const tarball = packTarball(mkdtempSync(join(tmpdir(), 'wasmvs-pack-')));
  const files = (execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  try {
    return {
      files, sdk: installProject(tarball), peers: installProject(tarball, ['pino', 'prom-client']),
      // An app's own bundlers, at the versions this repository tests with.
      web: installProject(tarball, ['vite', 'webpack', 'webpack-cli']),
    };
  } catch (e) {
    return { missing: `npm ci --offline of the packed tarball failed (dependency not in the npm cache?): ${(e as Error).message.split('\n').slice(0, 3).join(' ')}` };
  }
}

const { sdk, peers, web, files, missing } = prerequisites();
if (missing && CI) throw new Error(`package suite prerequisites missing in CI: ${missing}`);
if (missing) console.warn(`SKIPPING package tests: ${missing}`);

afterAll(() => {
  for (const p of [sdk, peers, web]) if (p) rmSync(p.dir, { recursive: true, force: true });
  if (sdk) rmSync(join(sdk.tarball, '..'), { recursive: true, force: true });
});

const run = (cmd: string, args: string[], cwd: string, env = cleanEnv()) =>
  spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 60_000 });

describe.skipIf(missing !== undefined)('the packed tarball, installed in another project', () => {
  it('ships the built core, SDK and bins, and no source maps or sources they would point at', () => {
    expect(files).toEqual(expect.arrayContaining(['build/wasmvs.wasm', 'dist/sdk/index.js', 'dist/sdk/index.d.ts', 'bin/wasmvsadm.js', 'bin/wasmvsd.js', PREBUILT]));
    // The build-from-source fallback ships too; no build output other than the prebuilt addon.
    expect(files).toEqual(expect.arrayContaining(['scripts/build-native.mjs', 'native/binding.gyp', 'native/src/addon.cc']));
    expect(files!.filter((f) => f.startsWith('native/build/'))).toEqual([]);
    expect(files!.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files!.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs no host-only dependency for SDK users', () => {
    expect(existsSync(join(sdk!.dir, 'node_modules/pino'))).toBe(false);
    expect(existsSync(join(sdk!.dir, 'node_modules/prom-client'))).toBe(false);
  });

  it('npx wasmvsadm and npx wasmvsd resolve to the installed bins', () => {
    const adm = run('npx', ['wasmvsadm', '-h'], sdk!.dir);
    expect(adm.status, adm.stderr).toBe(0);
    expect(adm.stdout).toMatch(/^wasmvsadm v0\.1\.0/);
    const d = run('npx', ['wasmvsd', '--help'], sdk!.dir);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toContain('Usage: wasmvsd proxy|gateway');
  });

  it('the SDK schedules in Node', () => {
    const code = `import { Director } from 'wasmvs';
      const d = await Director.create({ seed: 1 });
      const svc = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
      d.addService(svc, { scheduler: 'rr' });
      d.addDest(svc, { address: '198.18.1.1', port: 80, method: 'masq' });
      d.addDest(svc, { address: '198.18.1.2', port: 80, method: 'masq' });
      const c = d.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 40000 }, virtual: { address: '198.18.0.1', port: 80 } });
      console.log(JSON.stringify(c.dest));`;
    const r = run(process.execPath, ['--input-type=module', '-e', code], sdk!.dir);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ address: '198.18.1.2', port: 80 });
  });

  it('wasmvs/core, the host entry, resolves; a Director itself has no path to its core', () => {
    const code = `import { Director } from 'wasmvs';
      import { coreOf, layout } from 'wasmvs/core';
      const d = await Director.create({ seed: 1 });
      const svc = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
      d.addService(svc);
      const id = d.addDest(svc, { address: '198.18.1.1', port: 80, method: 'masq' });
      const hc = coreOf(d);
      hc.countTraffic(id, { inpkts: 3, inbytes: 300 });
      let refused = '';
      try { coreOf({}); } catch (e) { refused = e.name; }
      console.log(JSON.stringify({
        core: 'core' in d, own: Reflect.ownKeys(d).map(String), same: coreOf(d) === hc,
        abi: hc.x.abiVersion() >>> 16, region: typeof layout.REGION_PACKETS, base: hc.base > 0 && hc.base % 4 === 0,
        inpkts: d.dests(svc)[0].stats.inpkts, refused,
      }));`;
    const r = run(process.execPath, ['--input-type=module', '-e', code], sdk!.dir);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      core: false, own: [], same: true, abi: expect.any(Number), region: 'number', base: true, inpkts: 3, refused: 'InvalidOperationError',
    });
    // The types say the same: the entry has declarations, and Director's declare no core member.
    const dist = join(sdk!.dir, 'node_modules/wasmvs/dist/sdk');
    expect(readFileSync(join(dist, 'core/index.d.ts'), 'utf8')).toContain('export declare function coreOf(director: Director): HostCore;');
    expect(readFileSync(join(dist, 'director.d.ts'), 'utf8')).not.toMatch(/\bcore\s*:/);
  });

  it('wasmvsd proxy without its peer dependencies: the install command, exit 1, no socket', () => {
    const sock = join(sdk!.dir, 'ctl.sock');
    const r = run('npx', ['wasmvsd', 'proxy', '--socket', sock, '--state', join(sdk!.dir, 'state')], sdk!.dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('wasmvsd proxy needs pino and prom-client');
    expect(r.stderr).toContain('install them: npm install pino@^10 prom-client@^15');
    expect(existsSync(sock)).toBe(false);
  });

  /** Loads the addon the way the gateway does, in `dir`'s installed wasmvs; prints kind and path, or the error. */
  const loadAddon = (dir: string, wrap: string[] = []) => {
    const code = `import { loadNativeAddon } from './node_modules/wasmvs/dist/native/addon.js';
      try { const a = loadNativeAddon(); console.log(JSON.stringify({ kind: a.kind, path: a.path, NfQueue: typeof a.NfQueue })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, reason: e.reason, message: e.message })); }`;
    const argv = [...wrap, process.execPath, '--input-type=module', '-e', code];
    const r = run(argv[0], argv.slice(1), dir);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as Record<string, string>;
  };

  const noMnl = libmnlMissing();
  if (noMnl && CI) throw new Error(`package suite: ${noMnl}`);
  if (noMnl) console.warn(`SKIPPING the prebuilt addon load test: ${noMnl}`);
  it.skipIf(noMnl !== null)('the prebuilt gateway addon loads from the installed package, nothing built', () => {
    const pkg = join(sdk!.dir, 'node_modules/wasmvs');
    expect(existsSync(join(pkg, 'native/build'))).toBe(false);
    expect(loadAddon(sdk!.dir)).toEqual({ kind: 'prebuilt', path: join(pkg, PREBUILT), NfQueue: 'function' });
    expect(existsSync(join(pkg, 'native/build'))).toBe(false);
  });

  it('the prebuilt addon needs what README.md says: libmnl.so.0 (dynamic) and glibc no newer than it names', () => {
    const so = join(ROOT, PREBUILT);
    const needed = [...execFileSync('readelf', ['-d', so], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]);
    expect(needed).toContain('libmnl.so.0');
    expect(needed.filter((l) => !['libmnl.so.0', 'libstdc++.so.6', 'libc.so.6', 'libm.so.6', 'libgcc_s.so.1'].includes(l))).toEqual([]);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain('apt-get install libmnl0');
    const documented = /prebuilt for linux-x64 with glibc (\d+\.\d+) or newer/.exec(readme)?.[1];
    expect(documented).toBeDefined();
    const versions = [...execFileSync('objdump', ['-T', so], { encoding: 'utf8' }).matchAll(/\bGLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const [maj, min] = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a), [0, 0]);
    const [dMaj, dMin] = documented!.split('.').map(Number);
    expect(maj * 1000 + min, `the prebuilt addon needs GLIBC_${maj}.${min}`).toBeLessThanOrEqual(dMaj * 1000 + dMin);
  });

  const noNetns = canUnshareNet();
  if (noNetns && CI) throw new Error(`package suite: ${noNetns}`);
  if (noNetns) console.warn(`SKIPPING the gateway-without-addon test: ${noNetns}`);
  it.skipIf(noNetns !== null || noMnl !== null)('without libmnl.so.0 the prebuilt addon does not load: the package to install, exit 1, no socket', () => {
    // libmnl hidden in a mount namespace of the test's own (an overlay with the library removed), as on a host without libmnl0.
    const hidden = withoutLibmnl();
    expect(loadAddon(peers!.dir, hidden)).toEqual({
      code: 'WASMVS_NO_ADDON', reason: 'no-libmnl', message: expect.stringContaining('apt-get install libmnl0'),
    });
    const sock = join(peers!.dir, 'gw-mnl.sock');
    const r = run(hidden[0], [...hidden.slice(1), 'unshare', '--net', 'npx', 'wasmvsd', 'gateway', '--socket', sock, '--state', join(peers!.dir, 'gw-mnl.state')], peers!.dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('it links the libmnl shared library (libmnl.so.0), which is not installed');
    expect(r.stderr).toContain('libmnl.so.0: cannot open shared object file');
    expect(existsSync(sock)).toBe(false);
    // The library is still there outside that namespace.
    expect(loadAddon(peers!.dir).kind).toBe('prebuilt');
  });

  it.skipIf(noNetns !== null)('wasmvsd gateway without the addon: the build command for this project, exit 1, no socket', () => {
    // As on a platform with no prebuilt addon: the installed prebuilds/ taken away for this test.
    const prebuilds = join(peers!.dir, 'node_modules/wasmvs/prebuilds');
    renameSync(prebuilds, `${prebuilds}.off`);
    try {
      gatewayWithoutAddon();
    } finally {
      renameSync(`${prebuilds}.off`, prebuilds);
    }
  });

  function gatewayWithoutAddon() {
    // In a network namespace of its own: the gateway touches netfilter and ip_forward before it binds.
    // Without the optional peers the gateway (pino logs, metrics) says so first, as the proxy does.
    const bare = run('unshare', ['--net', 'npx', 'wasmvsd', 'gateway', '--socket', join(sdk!.dir, 'gw0.sock'), '--state', join(sdk!.dir, 'gw0.state')], sdk!.dir);
    expect(bare.status).toBe(1);
    expect(bare.stderr).toContain('install them: npm install pino@^10 prom-client@^15');
    expect(existsSync(join(sdk!.dir, 'gw0.sock'))).toBe(false);
    // With them, the missing addon: the command that builds it in this project.
    const sock = join(peers!.dir, 'gw.sock');
    const r = run('unshare', ['--net', 'npx', 'wasmvsd', 'gateway', '--socket', sock, '--state', join(peers!.dir, 'gw.state')], peers!.dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the wasmvs netfilter-queue addon is not built: no prebuilt addon matches linux-x64');
    expect(r.stderr).toContain('run `npm explore wasmvs -- npm run build:native`');
    expect(r.stderr).not.toContain('Require stack');
    expect(existsSync(sock)).toBe(false);
  }

  const noAddonBuild = canBuildAddon();
  if (noAddonBuild && CI) throw new Error(`package suite: ${noAddonBuild}`);
  if (noAddonBuild) console.warn(`SKIPPING the addon build test: ${noAddonBuild}`);
  it.skipIf(noAddonBuild !== null)('the fallback: the addon builds from the installed package with the command wasmvsd prints, and loads', () => {
    // As on a system the prebuilt addon does not fit: prebuilds/ taken away, so only the build can serve.
    const pkg = join(sdk!.dir, 'node_modules/wasmvs');
    rmSync(join(pkg, 'prebuilds'), { recursive: true });
    const b = run('npm', ['explore', 'wasmvs', '--', 'npm', 'run', 'build:native'], sdk!.dir);
    expect(b.status, b.stdout + b.stderr).toBe(0);
    expect(loadAddon(sdk!.dir)).toEqual({ kind: 'built', path: join(pkg, 'native/build/Release/wasmvs_nfq.node'), NfQueue: 'function' });
    // An installed package's build never writes a prebuilt addon (that is the repository's prepack).
    expect(existsSync(join(pkg, 'prebuilds'))).toBe(false);
  }, 180_000);

  it('npx wasmvsd: SIGTERM to npx stops the daemon and removes its socket', async () => {
    const sock = join(peers!.dir, 'npx.sock');
    const d = await startDaemon('npx', ['wasmvsd', 'proxy', '--socket', sock, '--state', join(peers!.dir, 'npx.state')], peers!.dir);
    expect(d.daemonPid).not.toBe(d.child.pid);
    d.child.kill('SIGTERM');
    await d.exited();
    expect(d.log()).toContain('shutting down');
    expect(existsSync(sock)).toBe(false);
    expect(() => process.kill(d.daemonPid, 0)).toThrow();
  });

  it('npm install -g (a real global install into its own prefix): the bins run from PATH, the proxy with its peers', async () => {
    const prefix = mkdtempSync(join(tmpdir(), 'wasmvs-global-'));
    try {
      // The registry is reached only for metadata the cache lacks (pino and prom-client are not in the
      // lockfile's cache for this exact request); the tarball itself is the packed one.
      const inst = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund',
        sdk!.tarball, 'pino@^10', 'prom-client@^15'], prefix);
      expect(inst.status, inst.stdout + inst.stderr).toBe(0);
      const env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env.PATH}` });
      const v = run('wasmvsadm', ['--version'], prefix, env);
      expect(v.status, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/^wasmvsadm v\d+\.\d+\.\d+ /);
      const sock = join(prefix, 'g.sock');
      const d = await startDaemon(join(prefix, 'bin/wasmvsd'), ['proxy', '--socket', sock, '--state', join(prefix, 'g.state')], prefix);
      expect(d.daemonPid).toBe(d.child.pid);
      const a = run('wasmvsadm', ['-A', '-t', '127.0.0.1:18090', '-s', 'sh'], prefix, { ...env, WASMVS_SOCKET: sock });
      expect(a.status, a.stderr).toBe(0);
      const l = run('wasmvsadm', ['-L', '-n'], prefix, { ...env, WASMVS_SOCKET: sock });
      expect(l.stdout).toContain('TCP  127.0.0.1:18090 sh');
      d.child.kill('SIGTERM');
      await d.exited();
      expect(existsSync(sock)).toBe(false);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('the installed bin is the daemon itself: SIGHUP to its pid reloads --config', async () => {
    const cfg = join(peers!.dir, 'lb.rules');
    writeFileSync(cfg, '-A -t 127.0.0.1:18080 -s rr\n');
    const sock = join(peers!.dir, 'bin.sock');
    const d = await startDaemon(join(peers!.dir, 'node_modules/.bin/wasmvsd'),
      ['proxy', '--socket', sock, '--state', join(peers!.dir, 'bin.state'), '--config', cfg], peers!.dir);
    expect(d.daemonPid).toBe(d.child.pid);
    writeFileSync(cfg, '-A -t 127.0.0.1:18080 -s rr\n-A -t 127.0.0.1:18081 -s wlc\n');
    d.child.kill('SIGHUP');
    await d.waitLog('configuration reloaded');
    const l = run('npx', ['wasmvsadm', '-L', '-n'], peers!.dir, cleanEnv({ WASMVS_SOCKET: sock }));
    expect(l.stdout).toContain('TCP  127.0.0.1:18081 wlc');
    d.child.kill('SIGTERM');
    await d.exited();
    expect(existsSync(sock)).toBe(false);
  });

  const noChromium = chromiumMissing();
  if (noChromium && CI) throw new Error(`package suite: ${noChromium}`);
  if (noChromium) console.warn(`SKIPPING the browser bundle tests: ${noChromium}`);
  describe.skipIf(noChromium !== null)('a browser bundle of an app using the SDK: esbuild, Vite, webpack', () => {
    const APP = `import { Director } from 'wasmvs';
      const director = await Director.create({ seed: 1 WASM });
      const svc = { protocol: 'tcp', address: '198.18.0.1', port: 80 };
      director.addService(svc, { scheduler: 'rr' });
      director.addDest(svc, { address: '198.18.1.1', port: 80, method: 'masq' });
      director.addDest(svc, { address: '198.18.1.2', port: 80, method: 'masq' });
      const c = director.schedule({ protocol: 'tcp', client: { address: '198.18.9.9', port: 40000 }, virtual: { address: '198.18.0.1', port: 80 } });
      document.title = JSON.stringify(c.dest);`;
    let closeAll: (() => Promise<void>) | null = null;
    afterAll(async () => { await closeAll?.(); });

    type Recipe = 'esbuild copy' | 'esbuild loader' | 'vite' | 'webpack';
    /** Every file under `dir`, relative to it. */
    const walk = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));

    /**
     * Builds the app, returns the folder to serve.
     * esbuild: 'copy' puts wasmvs.wasm next to the bundle; 'loader' imports wasmvs/wasm with esbuild's file loader.
     * vite, webpack: no configuration file and no option, their CLI's defaults (`vite build` of an
     * index.html, `webpack` of src/index.js); they emit the core themselves from the SDK's
     * `new URL('…/wasmvs.wasm', import.meta.url)`.
     */
    async function bundle(recipe: Recipe): Promise<string> {
      const dir = join(recipe.startsWith('esbuild') ? sdk!.dir : web!.dir, `app-${recipe.replace(' ', '-')}`);
      if (recipe === 'vite') {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>');
        writeFileSync(join(dir, 'main.js'), APP.replace(' WASM', ''));
        const r = run('npx', ['vite', 'build'], dir);
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stdout + r.stderr).not.toMatch(/warn|error/i);
        return join(dir, 'dist');
      }
      if (recipe === 'webpack') {
        mkdirSync(join(dir, 'src'), { recursive: true });
        writeFileSync(join(dir, 'src/index.js'), APP.replace(' WASM', ''));
        const r = run('npx', ['webpack'], dir);
        expect(r.status, r.stdout + r.stderr).toBe(0);
        // Its only warning is the one for the missing `mode` option (production by default), none about the SDK.
        expect((r.stdout + r.stderr).match(/^WARNING in .*/gm)).toEqual(['WARNING in configuration']);
        writeFileSync(join(dir, 'dist/index.html'), '<!doctype html><script src="main.js"></script>');
        return join(dir, 'dist');
      }
      mkdirSync(join(dir, 'out'), { recursive: true });
      const loader = recipe === 'esbuild loader';
      const head = loader ? `import wasm from 'wasmvs/wasm';\n` : '';
      writeFileSync(join(dir, 'app.js'), head + APP.replace(' WASM', loader ? ', wasm: new URL(wasm, import.meta.url)' : ''));
      await build({
        entryPoints: [join(dir, 'app.js')], bundle: true, format: 'esm', platform: 'browser', outdir: join(dir, 'out'),
        absWorkingDir: sdk!.dir, logLevel: 'silent', ...(loader ? { loader: { '.wasm': 'file' } } : {}),
      });
      if (!loader) copyFileSync(join(sdk!.dir, 'node_modules/wasmvs/build/wasmvs.wasm'), join(dir, 'out/wasmvs.wasm'));
      writeFileSync(join(dir, 'out/index.html'), '<!doctype html><script type="module" src="app.js"></script>');
      return join(dir, 'out');
    }

    it.each(['esbuild copy', 'esbuild loader', 'vite', 'webpack'] as const)('%s: no node: import in the bundle, the core loads and schedules in Chromium', async (recipe) => {
      const out = await bundle(recipe);
      const built = walk(out);
      // Exactly one core in the output, byte for byte the package's (the bundler emitted it, or esbuild's recipe put it there).
      const cores = built.filter((f) => f.endsWith('.wasm'));
      expect(cores).toHaveLength(1);
      expect(readFileSync(join(out, cores[0])).equals(readFileSync(join(ROOT, 'build/wasmvs.wasm')))).toBe(true);
      const scripts = built.filter((f) => f.endsWith('.js'));
      expect(scripts.length).toBeGreaterThan(0);
      for (const f of scripts) expect(readFileSync(join(out, f), 'utf8'), f).not.toMatch(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']node:/);
      const server = await serveDir(out);
      const browser = await launch();
      closeAll = async () => { await browser.close(); server.close(); };
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const failed: string[] = [];
      page.on('response', (r) => { if (!r.ok()) failed.push(`${r.status()} ${r.url()}`); });
      await page.goto(server.url);
      await page.waitForFunction(() => document.title.startsWith('{'), null, { timeout: 10_000 }).catch(() => {});
      expect(errors).toEqual([]);
      // esbuild leaves the SDK's package-relative URL as is: with the copy recipe that first try 404s, then the copy loads.
      expect(failed.filter((f) => !(recipe === 'esbuild copy' && f.startsWith('404 ') && f.endsWith('/build/wasmvs.wasm')))).toEqual([]);
      expect(JSON.parse(await page.title())).toEqual({ address: '198.18.1.2', port: 80 });
      await closeAll();
      closeAll = null;
    }, 120_000);
  });
});
