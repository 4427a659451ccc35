// C strftime as glibc implements it in the C locale, which LuaJIT's os.date
// hands its whole format to (pure; no fengari dependency). Supports every
// conversion glibc has, the flags `_ - 0 ^ #`, a width, and the E/O
// modifiers (ignored in the C locale); an unknown conversion is copied as is.

/** struct tm plus what %s, %z and %Z need. */
export interface BrokenDownTime {
  year: number; // e.g. 1970
  month: number; // 1-12
  day: number; // 1-31
  hour: number;
  min: number;
  sec: number;
  wday: number; // 0 = Sunday
  yday: number; // 0-365
  isdst: boolean;
  /** Seconds east of UTC. */
  gmtoff: number;
  /** Time zone abbreviation (computed on demand: it is slow to get). */
  zone: () => string;
  /** mktime() of these fields in the local zone (for %s). */
  epoch: () => number;
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** Broken-down time of epoch seconds t, in UTC or in the process's local zone; null if out of range. */
export function breakDown(t: number, utc: boolean): BrokenDownTime | null {
  const d = new Date(t * 1000);
  if (Number.isNaN(d.getTime())) return null;
  if (utc) {
    const start = Date.UTC(d.getUTCFullYear(), 0, 1);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      min: d.getUTCMinutes(),
      sec: d.getUTCSeconds(),
      wday: d.getUTCDay(),
      yday: Math.floor((d.getTime() - start) / 86400000),
      isdst: false,
      gmtoff: 0,
      zone: () => "GMT",
      // glibc: mktime() of gmtime()'s fields, whose tm_isdst is 0: standard time.
      epoch: () => Math.floor(d.getTime() / 1000) - zoneOffsets(d.getUTCFullYear()).standard,
    };
  }
  const year = d.getFullYear();
  const gmtoff = -d.getTimezoneOffset() * 60;
  const jan = new Date(year, 0, 1).getTimezoneOffset();
  const jul = new Date(year, 6, 1).getTimezoneOffset();
  return {
    year,
    month: d.getMonth() + 1,
    day: d.getDate(),
    hour: d.getHours(),
    min: d.getMinutes(),
    sec: d.getSeconds(),
    wday: d.getDay(),
    yday: Math.round((Date.UTC(year, d.getMonth(), d.getDate()) - Date.UTC(year, 0, 1)) / 86400000),
    isdst: jan !== jul && d.getTimezoneOffset() === Math.min(jan, jul),
    gmtoff,
    zone: () => zoneName(d),
    epoch: () => Math.floor(d.getTime() / 1000),
  };
}

/**
 * The local zone's standard and daylight offsets east of UTC in a year, in
 * seconds: how glibc's mktime reads fields with tm_isdst 0 and 1 (a zone
 * without DST counts as having daylight time one hour ahead).
 */
function zoneOffsets(year: number): { standard: number; daylight: number } {
  // Exact to the second (getTimezoneOffset rounds old local mean times to minutes).
  const offset = (month0: number) => {
    const local = new Date(2000, month0, 1);
    local.setFullYear(year, month0, 1);
    return (utcMs(year, month0, 1) - local.getTime()) / 1000;
  };
  const jan = offset(0), jul = offset(6);
  const standard = Math.min(jan, jul);
  return { standard, daylight: jan === jul ? standard + 3600 : Math.max(jan, jul) };
}

function utcMs(year: number, month0: number, day: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month0, day);
  return d.getTime();
}

/**
 * mktime(): the local-zone epoch seconds of fields that may be out of range
 * (normalised). With isdst null the zone decides; true or false (tm_isdst 1
 * or 0: os.time's isdst) reads the fields in the zone's daylight or standard
 * offset of that year (zoneOffsets), whatever is in effect then, as glibc
 * does.
 */
export function localEpoch(
  year: number,
  month0: number,
  day: number,
  hour: number,
  min: number,
  sec: number,
  isdst: boolean | null = null,
): number {
  let ms: number;
  if (isdst === null) {
    const d = new Date(2000, 0, 1, 0, 0, 0, 0);
    d.setFullYear(year, month0, day);
    d.setHours(hour, min, sec, 0);
    ms = d.getTime();
  } else {
    const { standard, daylight } = zoneOffsets(year);
    ms = utcMs(year, month0, day) +
      ((hour * 60 + min) * 60 + sec - (isdst ? daylight : standard)) * 1000;
  }
  return Number.isNaN(ms) ? NaN : Math.floor(ms / 1000);
}

function zoneName(d: Date): string {
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
    .formatToParts(d).find((p) => p.type === "timeZoneName");
  return part?.value ?? "";
}

/** ISO 8601 week number and week-based year. */
function isoWeek(tm: BrokenDownTime): { week: number; year: number } {
  const wdayMon = (tm.wday + 6) % 7; // 0 = Monday
  // The Thursday of this week decides the year.
  const thursdayYday = tm.yday - wdayMon + 3;
  const daysIn = (y: number) => (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) ? 366 : 365;
  if (thursdayYday < 0) {
    const prev = tm.year - 1;
    const yday = thursdayYday + daysIn(prev);
    return { week: Math.floor(yday / 7) + 1, year: prev };
  }
  if (thursdayYday >= daysIn(tm.year)) return { week: 1, year: tm.year + 1 };
  return { week: Math.floor(thursdayYday / 7) + 1, year: tm.year };
}

const pad = (n: number, width: number, fill: string) => {
  const s = String(Math.abs(n)).padStart(width, fill);
  return n < 0 ? "-" + s : s;
};

/** One conversion: [text, default pad ("0", " " or "" for text), is it alphabetic]. */
function convert(c: string, tm: BrokenDownTime): [string, number, string] | null {
  const h12 = tm.hour % 12 === 0 ? 12 : tm.hour % 12;
  switch (c) {
    case "a":
      return [DAYS[tm.wday].slice(0, 3), 0, ""];
    case "A":
      return [DAYS[tm.wday], 0, ""];
    case "b":
    case "h":
      return [MONTHS[tm.month - 1].slice(0, 3), 0, ""];
    case "B":
      return [MONTHS[tm.month - 1], 0, ""];
    case "c":
      return [format("%a %b %e %H:%M:%S %Y", tm), 0, ""];
    case "C":
      return [String(Math.floor(tm.year / 100)), 2, "0"];
    case "d":
      return [String(tm.day), 2, "0"];
    case "D":
      return [format("%m/%d/%y", tm), 0, ""];
    case "e":
      return [String(tm.day), 2, " "];
    case "F":
      return [format("%Y-%m-%d", tm), 0, ""];
    case "g":
      return [String(((isoWeek(tm).year % 100) + 100) % 100), 2, "0"];
    case "G":
      return [String(isoWeek(tm).year), 1, "0"];
    case "H":
      return [String(tm.hour), 2, "0"];
    case "I":
      return [String(h12), 2, "0"];
    case "j":
      return [String(tm.yday + 1), 3, "0"];
    case "k":
      return [String(tm.hour), 2, " "];
    case "l":
      return [String(h12), 2, " "];
    case "m":
      return [String(tm.month), 2, "0"];
    case "M":
      return [String(tm.min), 2, "0"];
    case "n":
      return ["\n", 0, ""];
    case "p":
      return [tm.hour < 12 ? "AM" : "PM", 0, ""];
    case "P":
      return [tm.hour < 12 ? "am" : "pm", 0, ""];
    case "r":
      return [format("%I:%M:%S %p", tm), 0, ""];
    case "R":
      return [format("%H:%M", tm), 0, ""];
    case "s":
      return [String(tm.epoch()), 1, "0"];
    case "S":
      return [String(tm.sec), 2, "0"];
    case "t":
      return ["\t", 0, ""];
    case "T":
      return [format("%H:%M:%S", tm), 0, ""];
    case "u":
      return [String(tm.wday === 0 ? 7 : tm.wday), 1, "0"];
    case "U":
      return [String(Math.floor((tm.yday + 7 - tm.wday) / 7)), 2, "0"];
    case "V":
      return [String(isoWeek(tm).week), 2, "0"];
    case "w":
      return [String(tm.wday), 1, "0"];
    case "W":
      return [String(Math.floor((tm.yday + 7 - ((tm.wday + 6) % 7)) / 7)), 2, "0"];
    case "x":
      return [format("%m/%d/%y", tm), 0, ""];
    case "X":
      return [format("%H:%M:%S", tm), 0, ""];
    case "y":
      return [String(((tm.year % 100) + 100) % 100), 2, "0"];
    case "Y":
      return [String(tm.year), 1, "0"];
    case "z": {
      const off = Math.abs(tm.gmtoff);
      const hhmm = Math.floor(off / 3600) * 100 + Math.floor((off % 3600) / 60);
      return [(tm.gmtoff < 0 ? "-" : "+") + pad(hhmm, 4, "0"), 0, ""];
    }
    case "Z":
      return [tm.zone(), 0, ""];
    case "%":
      return ["%", 0, ""];
    default:
      return null;
  }
}

const ALPHA = new Set(["a", "A", "b", "B", "h", "p", "P", "Z"]);

/** strftime(format, tm) with glibc's conversions in the C locale. */
export function format(fmt: string, tm: BrokenDownTime): string {
  let out = "";
  let i = 0;
  while (i < fmt.length) {
    const ch = fmt[i];
    if (ch !== "%") {
      out += ch;
      i++;
      continue;
    }
    const start = i++;
    let flag = "";
    while (i < fmt.length && "_-0^#".includes(fmt[i])) flag += fmt[i++];
    let width = -1;
    while (i < fmt.length && fmt[i] >= "0" && fmt[i] <= "9") {
      width = (width < 0 ? 0 : width * 10) + Number(fmt[i++]);
    }
    while (i < fmt.length && (fmt[i] === "E" || fmt[i] === "O")) i++;
    if (i >= fmt.length) {
      out += fmt.slice(start);
      break;
    }
    const c = fmt[i++];
    const result = convert(c, tm);
    if (result === null) {
      out += fmt.slice(start, i);
      continue;
    }
    let [text, minWidth, fill] = result;
    const upper = flag.includes("^") ||
      (flag.includes("#") && ALPHA.has(c) && c !== "p" && c !== "Z");
    if (upper) text = text.toUpperCase();
    else if (flag.includes("#") && (c === "p" || c === "Z")) text = text.toLowerCase();
    if (flag.includes("-")) minWidth = 0;
    else if (flag.includes("_")) fill = " ";
    else if (flag.includes("0")) fill = "0";
    if (width >= 0) minWidth = width;
    if (fill === "") fill = " ";
    if (text.length < minWidth) {
      const negative = text.startsWith("-") && fill === "0";
      const body = negative ? text.slice(1) : text;
      text = (negative ? "-" : "") + body.padStart(minWidth - (negative ? 1 : 0), fill);
    }
    out += text;
  }
  return out;
}
