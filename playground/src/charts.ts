// Live charts with uPlot: one series per destination.
import uPlot from 'uplot';
import type { Sample } from './sim.js';

const COLORS = ['#2f6fdf', '#d9534f', '#3a9d5d', '#e0a100', '#8e44ad', '#16a2b8', '#6c757d', '#c2185b'];

type Pick = (d: Sample['dests'][number], total: number, wsum: number) => number;

export class DestChart {
  private plot: uPlot | null = null;
  private keys: string[] = [];

  constructor(private readonly el: HTMLElement, private readonly pick: Pick, private readonly ideal?: Pick) {}

  update(samples: readonly Sample[]): void {
    const last = samples[samples.length - 1];
    const keys = last ? last.dests.map((d) => d.key) : [];
    if (this.plot === null || keys.join() !== this.keys.join()) this.rebuild(keys);
    const xs = samples.map((s) => s.t);
    const series: (number | null)[][] = [];
    for (const k of keys) {
      series.push(samples.map((s) => {
        const d = s.dests.find((x) => x.key === k);
        const total = s.dests.reduce((a, x) => a + x.decisions, 0);
        const wsum = s.dests.reduce((a, x) => a + x.weight, 0);
        return d ? this.pick(d, total, wsum) : null;
      }));
      if (this.ideal) {
        const ideal = this.ideal;
        series.push(samples.map((s) => {
          const d = s.dests.find((x) => x.key === k);
          const total = s.dests.reduce((a, x) => a + x.decisions, 0);
          const wsum = s.dests.reduce((a, x) => a + x.weight, 0);
          return d ? ideal(d, total, wsum) : null;
        }));
      }
    }
    this.plot!.setData([xs, ...series] as uPlot.AlignedData);
  }

  private rebuild(keys: string[]): void {
    this.plot?.destroy();
    this.keys = keys;
    const series: uPlot.Series[] = [{ label: 't (s)' }];
    keys.forEach((k, i) => {
      series.push({ label: k, stroke: COLORS[i % COLORS.length], width: 2 });
      if (this.ideal) series.push({ label: `${k} ideal`, stroke: COLORS[i % COLORS.length], dash: [6, 4], width: 1 });
    });
    const width = Math.max(320, Math.min(560, this.el.clientWidth || 480));
    this.plot = new uPlot({ width, height: 220, series, scales: { x: { time: false } } }, [[], ...series.slice(1).map(() => [])] as uPlot.AlignedData, this.el);
  }
}
