// Maglev table sizes IPVS can be built with (CONFIG_IP_VS_MH_TAB_INDEX 8..17).
export const MH_DEFAULT_PRIME: u32 = 4093;

export function isMhPrime(m: u32): bool {
  return m == 251 || m == 509 || m == 1021 || m == 2039 || m == 4093 || m == 8191 ||
    m == 16381 || m == 32749 || m == 65521 || m == 131071;
}
