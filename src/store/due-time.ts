/** Due times compare as text: store them in one ISO form so "09:05Z" and "09:05:00.000Z" order right. */
export function isoOrAsIs(at: string): string {
  const t = Date.parse(at);
  return Number.isNaN(t) ? at : new Date(t).toISOString();
}
