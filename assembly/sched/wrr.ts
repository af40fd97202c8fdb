// wrr: placeholder until its issue-2 implementation lands; picks nothing.
import { Scheduler } from "./scheduler";

export class WeightedRoundRobin extends Scheduler {}
