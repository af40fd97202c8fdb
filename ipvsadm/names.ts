// How the formatter turns addresses and ports into text. Numeric by default;
// the Node CLI injects a resolver (cli/resolve.ts) for listings without -n.

export interface Names {
  /** Host name for an address, or the address itself. */
  host(af: 4 | 6, address: string): string;
  /** Service name for a port of this protocol ('tcp' | 'udp' | 'sctp' | other), or the number. */
  port(port: number, proto: string): string;
}

export const NUMERIC: Names = {
  host: (_af, address) => address,
  port: (port) => String(port),
};

/** ipvsadm's addrport_to_anyname: `addr:port`, IPv6 in brackets. */
export function endpointName(af: 4 | 6, address: string, port: number, proto: string, names: Names): string {
  const host = names.host(af, address);
  return af === 6 ? `[${host}]:${names.port(port, proto)}` : `${host}:${names.port(port, proto)}`;
}
