// Writer for the stats record (layout ST_*). With abi/io.ts and records.ts
// this is one of the only places that know byte offsets.
import * as L from "../abi/layout";
import { Stats, reportPps, reportBps } from "./stats";

@inline function wr64(p: usize, v: u64): void {
  store<u64>(p, v);
}

export function writeStatsRecord(p: usize, s: Stats): void {
  wr64(p + L.ST_CONNS, s.shownConns());
  wr64(p + L.ST_INPKTS, s.shownInpkts());
  wr64(p + L.ST_OUTPKTS, s.shownOutpkts());
  wr64(p + L.ST_INBYTES, s.shownInbytes());
  wr64(p + L.ST_OUTBYTES, s.shownOutbytes());
  wr64(p + L.ST_CPS, reportPps(s.cpsAvg));
  wr64(p + L.ST_INPPS, reportPps(s.inppsAvg));
  wr64(p + L.ST_OUTPPS, reportPps(s.outppsAvg));
  wr64(p + L.ST_INBPS, reportBps(s.inbpsAvg));
  wr64(p + L.ST_OUTBPS, reportBps(s.outbpsAvg));
  wr64(p + L.ST_AVG_CPS, <u64>s.cpsAvg);
  wr64(p + L.ST_AVG_INPPS, <u64>s.inppsAvg);
  wr64(p + L.ST_AVG_OUTPPS, <u64>s.outppsAvg);
  wr64(p + L.ST_AVG_INBPS, <u64>s.inbpsAvg);
  wr64(p + L.ST_AVG_OUTBPS, <u64>s.outbpsAvg);
}
