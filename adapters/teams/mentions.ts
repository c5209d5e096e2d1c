/**
 * What a person typed to keyturn, as text: Teams puts every @mention in `text` as `<at>Name</at>` and
 * lists it in `entities`. keyturn's own mention (the entity whose mentioned.id is the recipient) is
 * the address, not the words, so it goes; a colleague mentioned in a reason stays, as their name.
 */
interface MentionEntity {
  type?: string;
  text?: string;
  mentioned?: { id?: string; name?: string };
}

interface MessageLike {
  text?: string;
  entities?: readonly unknown[];
  recipient?: { id?: string };
}

export function commandText(a: MessageLike): string {
  let t = a.text ?? "";
  const mentions = (a.entities ?? []) as MentionEntity[];
  for (const m of mentions) {
    if (m.type === "mention" && m.text && m.mentioned?.id && m.mentioned.id === a.recipient?.id)
      t = t.replace(m.text, "");
  }
  // every other <at> is a person (or a tag someone typed): their name stays as plain text
  t = t.replace(/<at(?:\s[^>]*)?>([^<]*)<\/at>/gi, (_all, name: string) => name);
  return t
    .trim()
    .replace(/^keyturn\s+/i, "")
    .trim();
}
