// Recipient helpers for the add-ins: group the answers of POST
// /api/v1/recipients/resolve by route and turn a typed phone number into E.164
// (ITU-T E.164: "+", country code, national number, at most 15 digits), the
// form the API's `phones` map takes for external recipients' SMS codes.

/** Country calling code and trunk prefix per default region. */
const REGIONS = Object.freeze({
  NL: { cc: "31", trunk: "0" },
  BE: { cc: "32", trunk: "0" },
  DE: { cc: "49", trunk: "0" },
  FR: { cc: "33", trunk: "0" },
  LU: { cc: "352", trunk: "" },
  AT: { cc: "43", trunk: "0" },
  GB: { cc: "44", trunk: "0" },
});

const SEPARATORS = /[\s.\-/()\u00a0]/g;

/**
 * normalisePhone turns a typed number into E.164, or null when it cannot be a
 * mobile number. "06 1234 5678" (defaultRegion NL) → "+31612345678";
 * "+32 470 12 34 56" and "0032 470 12 34 56" → "+32470123456"; "+31 (0)6 …"
 * drops the "(0)". Dutch numbers must be mobile (+316 and eight digits).
 */
export function normalisePhone(raw, defaultRegion = "NL") {
  if (typeof raw !== "string") return null;
  let s = raw.trim().replace(/\(0\)/g, "").replace(SEPARATORS, "");
  if (s.startsWith("00")) s = "+" + s.slice(2);
  if (!s.startsWith("+")) s = national(s, REGIONS[String(defaultRegion).toUpperCase()]);
  if (s === null || !/^\+[1-9][0-9]{7,14}$/.test(s)) return null;
  if (s.startsWith("+31") && !/^\+316[0-9]{8}$/.test(s)) return null;
  return s;
}

function national(s, region) {
  if (!region || !/^[0-9]+$/.test(s)) return null;
  if (region.trunk === "") return "+" + region.cc + s;
  if (!s.startsWith(region.trunk)) return null;
  return "+" + region.cc + s.slice(region.trunk.length);
}

/**
 * summarise groups resolutions ({address, route, …}) by route, keeping their
 * order; an unknown route counts as invalid so nothing is sent to it unseen.
 */
export function summarise(resolutions) {
  const out = { internal: [], external: [], invalid: [] };
  for (const r of resolutions ?? []) {
    const bucket = r?.route === "internal" || r?.route === "external" ? r.route : "invalid";
    out[bucket].push(r);
  }
  return out;
}

/** needsPhone reports whether the recipient gets its code by SMS. */
export function needsPhone(resolution) {
  return resolution?.route === "external";
}

/**
 * missingPhones lists the addresses of external recipients without a valid
 * number in phones (address → typed number); addresses compare case-insensitively.
 */
export function missingPhones(resolutions, phones = {}, defaultRegion = "NL") {
  const byAddress = new Map(Object.entries(phones).map(([a, p]) => [a.toLowerCase(), p]));
  return (resolutions ?? [])
    .filter(needsPhone)
    .filter((r) => normalisePhone(byAddress.get(r.address.toLowerCase()) ?? "", defaultRegion) === null)
    .map((r) => r.address);
}
