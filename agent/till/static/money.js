// Money, points and quantities on the cashier page: integers only.
//
// The API speaks integer minor units (kopecks; points the same way) and
// quantities as decimal strings. Everything here works on BigInt or on
// strings, so no binary floating point ever touches an amount.

const MONEY = /^(\d{1,8})(?:[.,](\d{1,2}))?$/;
const QUANTITY = /^(\d{1,7})(?:[.,](\d{1,3}))?$/;
const SPACES = /[\s\u00a0\u202f]/g;

/** "123,45" / "123.45" / "1 234" -> {value: 12345} (minor units); {empty: true}; or {error: true}. */
export function parseMinor(text) {
  const s = String(text ?? "").replace(SPACES, "").replace(/(₽|руб\.?|р\.?)$/i, "");
  if (s === "") return { empty: true };
  const m = MONEY.exec(s);
  if (!m) return { error: true };
  return { value: BigInt(m[1]) * 100n + BigInt((m[2] || "").padEnd(2, "0")) };
}

/** "2" / "0,455" / "1.5" -> {value: 455n} (thousandths, > 0); {empty: true}; or {error: true}. */
export function parseQuantity(text) {
  const s = String(text ?? "").replace(SPACES, "");
  if (s === "") return { empty: true };
  const m = QUANTITY.exec(s);
  if (!m) return { error: true };
  const value = BigInt(m[1]) * 1000n + BigInt((m[2] || "").padEnd(3, "0"));
  return value > 0n ? { value } : { error: true };
}

/** Thousandths as the API's decimal string: 1500n -> "1.5", 2000n -> "2". */
export function quantityString(thousandths) {
  const n = BigInt(thousandths);
  const frac = (n % 1000n).toString().padStart(3, "0").replace(/0+$/, "");
  return (n / 1000n).toString() + (frac ? "." + frac : "");
}

/** A decimal quantity string of the API ("0.455") as thousandths. */
export function quantityThousandths(text) {
  const parsed = parseQuantity(text);
  return parsed.value ?? 0n;
}

/** price x quantity - discount, the half kopeck rounded up (the agent accepts either rounding). */
export function lineAmount(price, thousandths, discount) {
  return (BigInt(price) * BigInt(thousandths) + 500n) / 1000n - BigInt(discount);
}

function group(digits, separator) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, separator);
}

/** Minor units as "1 234,56" (the page's locale gives the separators). */
export function formatMinor(minor, fmt) {
  let n = BigInt(minor);
  const negative = n < 0n;
  if (negative) n = -n;
  const whole = group((n / 100n).toString(), fmt.group);
  const frac = (n % 100n).toString().padStart(2, "0");
  return (negative ? "\u2212" : "") + whole + fmt.decimal + frac;
}

/** Thousandths for display: 1500n -> "1,5" in Russian. */
export function formatQuantity(thousandths, fmt) {
  return quantityString(thousandths).replace(".", fmt.decimal);
}

/** Minor units as the text a cashier would type back: 12345 -> "123,45". */
export function editableMinor(minor, fmt) {
  return formatMinor(minor, { group: "", decimal: fmt.decimal });
}

/** A BigInt amount as a JSON number (amounts are far below 2**53; refuse rather than round). */
export function toJsonNumber(value) {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError("amount too large");
  return Number(value);
}
