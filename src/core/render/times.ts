/**
 * Times as people read them in chat: "20:33:34 UTC", with the date said once per message (and again
 * only when it changes). Recorded evidence keeps ISO times; only what chat shows is reworded.
 */
const ISO = /\b(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z\b/g;

/** A reader of times for one message: the first time says its date, later ones on that day do not. */
export function timeReader(): { at(iso: string): string; inText(s: string): string } {
  let shownDate: string | null = null;
  const word = (date: string, time: string): string => {
    const out = date === shownDate ? `${time} UTC` : `${date} ${time} UTC`;
    shownDate = date;
    return out;
  };
  return {
    at(iso) {
      const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
      return m ? word(m[1]!, m[2]!) : iso;
    },
    inText(s) {
      return s.replace(ISO, (_m, date: string, time: string) => word(date, time));
    },
  };
}
