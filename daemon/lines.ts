// Splits a byte stream into lines without rescanning: only each new chunk is
// searched for '\n', pieces of a long line are kept in a list until it ends.
// (Appending to one string and searching it whole is quadratic on the
// tens-of-megabytes lines a big -R or -L carries.)
export class LineSplitter {
  private parts: string[] = [];
  private size = 0;

  /** Feed a chunk; returns the lines it completed. */
  push(chunk: string): string[] {
    const out: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      this.parts.push(chunk.slice(start, nl));
      out.push(this.parts.length === 1 ? this.parts[0] : this.parts.join(''));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.parts.push(chunk.slice(start));
      this.size += chunk.length - start;
    }
    return out;
  }

  /** Characters of the unfinished line. */
  get pending(): number { return this.size; }

  reset(): void { this.parts = []; this.size = 0; }
}
