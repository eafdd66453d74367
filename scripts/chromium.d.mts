export const CHROMIUM: string;
export function ensureChromium(log?: (s: string) => void): string | null;
