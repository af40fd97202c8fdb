// The form/table editor. It never changes the Director itself: every edit is
// turned into the ipvsadm command a user would type and run through the same
// console, so the console and the editor cannot disagree.
import type { Director } from '../../sdk/director.js';
import type { ServiceInfo, DestInfo } from '../../sdk/types.js';

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos'];
const METHOD_FLAG: Record<string, string> = { masq: '-m', route: '-g', tunnel: '-i', local: '-g' };

function svcArg(s: ServiceInfo): string {
  if (s.fwmark) return `-f ${s.fwmark}${s.af === 6 ? ' -6' : ''}`;
  const flag = s.protocol === 'udp' ? '-u' : s.protocol === 'sctp' ? '--sctp-service' : '-t';
  return `${flag} ${s.af === 6 ? `[${s.address}]` : s.address}:${s.port}`;
}

function destArg(d: DestInfo): string {
  return `${d.af === 6 ? `[${d.address}]` : d.address}:${d.port}`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...kids);
  return e;
}

function serviceOptions(s: ServiceInfo, scheduler: string): string {
  let o = ` -s ${scheduler}`;
  if (s.persistent) o += ` -p ${s.persistent}`;
  if (s.ops) o += ' -o';
  return o;
}

export function renderEditor(root: HTMLElement, director: Director, run: (cmd: string) => Promise<void>): void {
  root.replaceChildren();
  for (const s of director.services()) {
    const sched = el('select', { ariaLabel: `scheduler of ${svcArg(s)}` });
    for (const n of SCHEDULERS) sched.append(el('option', { value: n, selected: n === s.scheduler }, n));
    sched.addEventListener('change', () => void run(`-E ${svcArg(s)}${serviceOptions(s, sched.value)}`));
    const table = el('table');
    table.append(el('tr', {}, el('th', {}, 'destination'), el('th', {}, 'weight'), el('th', {}, 'method'), el('th', {}, 'state'), el('th', {}, '')));
    for (const d of director.dests(s.fwmark ? { fwmark: s.fwmark, af: s.af } : { protocol: s.protocol!, address: s.address!, port: s.port })) {
      const w = el('input', { type: 'number', min: '0', max: '65535', value: String(d.weight), ariaLabel: `weight of ${destArg(d)}` });
      w.addEventListener('change', () => void run(`-e ${svcArg(s)} -r ${destArg(d)} ${METHOD_FLAG[d.method]} -w ${w.value}`));
      const drain = el('button', { type: 'button', textContent: 'drain' });
      drain.addEventListener('click', () => void run(`-e ${svcArg(s)} -r ${destArg(d)} ${METHOD_FLAG[d.method]} -w 0`));
      const remove = el('button', { type: 'button', textContent: 'remove' });
      remove.addEventListener('click', () => void run(`-d ${svcArg(s)} -r ${destArg(d)}`));
      const state = d.overloaded ? 'overloaded' : d.weight === 0 ? 'drained' : 'up';
      table.append(el('tr', {}, el('td', {}, destArg(d)), el('td', {}, w), el('td', {}, d.method), el('td', {}, state), el('td', {}, drain, remove)));
    }
    const addr = el('input', { placeholder: '198.18.1.9:80', ariaLabel: 'new destination' });
    const add = el('button', { type: 'button', textContent: 'add destination' });
    add.addEventListener('click', () => void run(`-a ${svcArg(s)} -r ${addr.value.trim()} -m -w 1`));
    root.append(el('h3', {}, `${svcArg(s)} `, sched), table, el('p', {}, addr, ' ', add));
  }
}
