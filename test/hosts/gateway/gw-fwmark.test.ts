// A firewall-mark service (`ipvsadm -A -f MARK`) through a real `wasmvsd
// gateway`: one service for TCP and UDP alike, as IPVS groups them. The mark
// is set by the operator's own rule before the gateway's (an nft chain at
// prerouting priority -350, ahead of the raw table where the gateway leaves
// the VIP untracked); real servers without a port keep each packet's port.
// NAT, VIP local on the director's lo: TCP byte-exact and UDP answered from
// the VIP (the replies of both protocols are queued and rewritten), round
// robin over two real servers, the counters of both protocols on the
// service, and nothing of the gateway left after stop.
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { inCI } from './prereq.js';
import { killChildren } from './netns.js';
import { Topo, VIP, RS } from './gw-topo.js';
import { missingGatewayPrereq, startGateway, stopGateway, adm, exchange, udpExchange, summary } from './gw-daemon.js';
import { fenced } from '../../docs/blocks.js';

const why = missingGatewayPrereq('nft');
if (why && !inCI) console.warn(`\n*** SKIPPING gateway fwmark suite: ${why} ***\n`);
const suite = describe.skipIf(why !== null && !inCI);
const QUEUE = 560 + (process.pid % 200), MARK = 7;

/** The operator's marking rule, as docs/gateway.md gives it: the VIP's HTTP and DNS ports take MARK before raw (-300) sees them. */
const MARK_RULES = fenced('docs/gateway.md').find((b) => b.heading.startsWith('Firewall-mark services') && b.lang === 'text')?.body ?? '';

suite('wasmvsd gateway: a firewall-mark service carries TCP and UDP', () => {
  afterEach(killChildren);

  it('NAT, VIP local: TCP byte-exact and UDP answered from the VIP, round robin, both counted on the service; clean stop', async () => {
    const topo = new Topo(`gf${process.pid % 10000}`);
    try {
      topo.setup('nat', { vip: 'local' });
      expect(MARK_RULES).toContain(`ip daddr ${VIP} udp dport 53 meta mark set ${MARK}`);
      writeFileSync(`${topo.tmp}/mark.nft`, MARK_RULES);
      topo.in('director', 'nft', '-f', `${topo.tmp}/mark.nft`);
      const gw = await startGateway(topo, QUEUE);
      adm(topo, '-A', '-f', String(MARK), '-s', 'rr');
      // No port: each packet keeps its own (80 for TCP, 53 for UDP), as IPVS does for a port-0 real server.
      for (const r of RS.slice(0, 2)) adm(topo, '-a', '-f', String(MARK), '-r', r, '-m');
      const tcp: string[] = [], udp: string[] = [];
      for (let i = 0; i < 2; i++) {
        const t = await exchange(topo, '0.0.0.0', 80, 1, 4000);
        expect(t.replies, JSON.stringify(t)).toHaveLength(1);
        // "reply I SERVED PEER ok": the real server that echoed, the peer the client saw (the VIP), the bytes intact.
        const [, served, peer, ok] = /^reply \d+ (\S+) (\S+) (\S+)$/.exec(t.replies[0]) ?? [];
        expect([peer, ok], t.replies[0]).toEqual([`${VIP}:80`, 'ok']);
        tcp.push(served);
        // A server on each real server's address: the echo names the one that answered.
        const { reply } = await udpExchange(topo, RS.slice(0, 2), 53);
        // From the VIP: the real server's reply was rewritten on its way back.
        expect(reply).toMatch(new RegExp(`^udp-reply echo:[\\d.]+:[0-9a-f]+ from ${VIP.replace(/\./g, '\\.')}:53$`));
        udp.push(/^udp-reply echo:([\d.]+):/.exec(reply)?.[1] ?? reply);
      }
      // Round robin over one service for both protocols: TCP, UDP, TCP, UDP alternate between the two.
      const order = [tcp[0], udp[0], tcp[1], udp[1]];
      for (let i = 1; i < 4; i++) expect(order[i], order.join(' ')).not.toBe(order[i - 1]);
      expect(new Set(order)).toEqual(new Set(RS.slice(0, 2)));
      const listed = adm(topo, '-L', '-n', '--stats');
      const fwm = /^FWM\s+7\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(listed);
      expect(fwm, listed).not.toBeNull();
      expect(Number(fwm![1])).toBe(4); // connections: two TCP, two UDP
      expect(Number(fwm![3]), 'outgoing packets (replies) counted').toBeGreaterThanOrEqual(4);
      const log = await stopGateway(gw);
      expect(summary(log).failed_bursts).toBe(0);
      expect(topo.ownedState()).toEqual({ iptables: '', rules: '' });
    } finally {
      topo.teardown();
    }
  }, 90_000);
});
