/**
 * Browser and OS of a login, in words a user recognises on the push screen ("Chrome on
 * Windows"). A few patterns, most specific first; anything else says so rather than guess.
 */
const BROWSERS: [RegExp, string][] = [
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/SamsungBrowser\//, 'Samsung Internet'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/Chrome\/|CriOS\//, 'Chrome'],
  [/Safari\//, 'Safari'],
];
const SYSTEMS: [RegExp, string][] = [
  [/Windows/, 'Windows'],
  [/iPhone|iPad|iPod/, 'iOS'],
  [/Android/, 'Android'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

export function describeUserAgent(ua: string | null): { browser: string; os: string } {
  const s = ua ?? '';
  return {
    browser: BROWSERS.find(([re]) => re.test(s))?.[1] ?? 'Unknown browser',
    os: SYSTEMS.find(([re]) => re.test(s))?.[1] ?? 'Unknown system',
  };
}
