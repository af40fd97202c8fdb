// The playground in a real browser (Debian Chromium via playwright-core): the
// numbers it shows must equal what the SDK computes in Node for the same
// scenario, a shared URL must replay the identical run, and bad console input
// must get ipvsadm's message without breaking the page.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Server, AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, launch } from './browser.js';
import { createSimulation } from '../../playground/src/sim.js';
import { decodeScenario, type Scenario } from '../../playground/src/scenario.js';

const missing = chromiumMissing();
if (missing && process.env.CI === 'true') throw new Error(`playground suite prerequisites missing in CI: ${missing}`);
if (missing) console.warn(`SKIPPING playground browser tests: ${missing}`);

const SVC = '-t 198.18.0.1:80';
const COMMANDS = [
  `-A ${SVC} -s wrr`,
  `-a ${SVC} -r 198.18.1.1:80 -m -w 1`,
  `-a ${SVC} -r 198.18.1.2:80 -m -w 3`,
  `-a ${SVC} -r 198.18.1.3:80 -m -w 2`,
];
const EMPTY: Scenario = {
  seed: 7, config: [], events: [], seconds: 40,
  traffic: { rate: 15, duration: { kind: 'exp', mean: 4 }, clients: 300, protocol: 'tcp' },
};

describe.skipIf(missing !== null)('playground in Chromium', () => {
  let server: Server;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-playground.mjs'], { stdio: 'pipe' });
    const { servePlayground } = await import('../../scripts/serve-playground.mjs');
    server = await servePlayground(0);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1100 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent?.startsWith('ready'), null, { timeout: 20_000 });
    (page as unknown as { errors: string[] }).errors = errors;
    return page;
  }

  async function type(page: Page, cmd: string): Promise<string> {
    await page.fill('[data-testid=console-input]', cmd);
    await page.press('[data-testid=console-input]', 'Enter');
    await page.waitForFunction((c) => document.querySelector('[data-testid=console-output]')?.textContent?.startsWith(`# ipvsadm ${c}`), cmd);
    return (await page.textContent('[data-testid=console-output]')) ?? '';
  }

  async function runToEnd(page: Page, seconds: number): Promise<void> {
    await page.click('[data-testid=run]');
    await page.waitForFunction((s) => document.querySelector('[data-testid=clock]')?.textContent === String(s), seconds, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent?.startsWith('finished'));
  }

  async function decisions(page: Page): Promise<Record<string, number>> {
    return page.$$eval('[data-testid=decisions] tbody tr', (rows) =>
      Object.fromEntries(rows.map((r) => [r.getAttribute('data-dest'), Number(r.children[2].textContent)])));
  }

  async function nodeRun(s: Scenario): Promise<{ decisions: Record<string, number>; stats: string }> {
    const sim = await createSimulation(structuredClone(s), { flavor: 'release' });
    expect(await sim.configure()).toEqual([]);
    await sim.runToEnd();
    return { decisions: Object.fromEntries(sim.decisions), stats: (await sim.console.run('-L -n --stats')).out };
  }

  let shared = '';
  let firstRun: Record<string, number> = {};

  it('runs a seeded scenario typed at the console and shows what the SDK computes in Node', async () => {
    const page = await open(`${base}#s=${Buffer.from(JSON.stringify(EMPTY)).toString('base64url')}`);
    for (const c of COMMANDS) expect(await type(page, c)).not.toMatch(/illegal|Service|such/);
    expect(await type(page, '-L -n')).toContain('TCP  198.18.0.1:80 wrr');
    await page.click('[data-testid=share]');
    shared = page.url();
    await page.click('[data-testid=reset]');
    await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.textContent?.startsWith('ready'));
    await runToEnd(page, EMPTY.seconds);
    firstRun = await decisions(page);
    const statsText = (await page.textContent('[data-testid=stats]')) ?? '';

    const scenario = decodeScenario(new URL(shared).hash.slice(3));
    expect(scenario.config).toEqual(COMMANDS);
    const node = await nodeRun(scenario);
    expect(firstRun).toEqual(node.decisions);
    expect(statsText).toBe(node.stats);
    expect(Object.values(firstRun).reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/playground.png', fullPage: false });
    await page.close();
  });

  it('a shared link replays the identical run', async () => {
    expect(shared).toContain('#s=');
    const page = await open(shared);
    await runToEnd(page, EMPTY.seconds);
    expect(await decisions(page)).toEqual(firstRun);
    await page.close();
  });

  it('bad console input gets ipvsadm\'s message and the page keeps working', async () => {
    const page = await open(base);
    expect(await type(page, '-A -t 198.18.0.1:99999')).toContain('illegal virtual server address[:port] specified');
    expect(await type(page, '-a -t 198.18.9.9:80 -r 198.18.1.1')).toContain('Service not defined');
    expect(await type(page, '--frobnicate')).toMatch(/Try|frobnicate/);
    expect(await type(page, '-L -n')).toContain('IP Virtual Server version 1.2.1');
    await page.click('[data-testid=step]');
    await page.waitForFunction(() => document.querySelector('[data-testid=clock]')?.textContent === '1');
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });
});
