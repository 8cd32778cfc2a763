// How long an SMS text is, the way the sms service sends it
// (lib/dispatch/ecm_sms.c): GSM 03.38 7-bit when every character is in the
// default alphabet or its extension table (an extension character costs 2
// septets), else UCS-2 (UTF-16 units; a character outside the BMP costs 2).
// One message holds 160 septets / 70 units; a longer text is sent in parts
// of 153 / 67 (the rest is the concatenation header), and a 2-unit
// character never straddles two parts. Pure functions, no DOM.

// The default alphabet (GSM 03.38 table 1), ESC (0x1B) left out.
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
// The extension table: form feed ^ { } \ [ ~ ] | €.
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

export const GSM7 = { name: 'GSM-7', single: 160, part: 153 };
export const UCS2 = { name: 'UCS-2', single: 70, part: 67 };

/* Septets a character costs in GSM-7: 1, 2 (extension), 0 (not in GSM-7). */
function gsmCost(ch) {
  if (GSM7_BASIC.has(ch)) return 1;
  if (GSM7_EXTENSION.has(ch)) return 2;
  return 0;
}

/* Measures text. Returns {encoding: GSM7|UCS2, chars (code points), units
 * (septets or UTF-16 units), segments (1 for an empty text), extended
 * (how many GSM-7 extension characters), unicode (the characters that made
 * it UCS-2, first few)}. Never throws. */
export function measureSms(text) {
  const chars = Array.from(text);
  const nonGsm = chars.filter(c => gsmCost(c) === 0);
  const enc = nonGsm.length ? UCS2 : GSM7;
  const costs = chars.map(c => (enc === GSM7 ? gsmCost(c) : c.length));
  const units = costs.reduce((a, b) => a + b, 0);
  let segments = 1;
  if (units > enc.single) {
    let used = 0;
    for (const cost of costs) {
      if (used + cost > enc.part) {
        segments++;
        used = 0;
      }
      used += cost;
    }
  }
  return {
    encoding: enc,
    chars: chars.length,
    units,
    segments,
    extended: enc === GSM7 ? chars.filter(c => gsmCost(c) === 2).length : 0,
    unicode: [...new Set(nonGsm)].slice(0, 5),
  };
}

/* Splits a template the way ecm_sms_template_foreach reads it: "{name}" is
 * a field, "{{" and "}}" literal braces. Returns {fixed: the text without
 * its fields (braces unescaped), fields: [names in order], error: null or
 * a plain sentence}. */
export function splitTemplate(tmpl) {
  let fixed = '';
  const fields = [];
  for (let i = 0; i < tmpl.length; i++) {
    const c = tmpl[i];
    if (c === '{' && tmpl[i + 1] === '{') {
      fixed += '{';
      i++;
    } else if (c === '}' && tmpl[i + 1] === '}') {
      fixed += '}';
      i++;
    } else if (c === '{') {
      const end = tmpl.indexOf('}', i + 1);
      if (end < 0) return { fixed, fields, error: 'A “{” is not closed with “}”.' };
      const name = tmpl.slice(i + 1, end).trim();
      if (!name || name.includes('{')) {
        return { fixed, fields, error: 'A field name between { and } is empty or broken.' };
      }
      fields.push(name);
      i = end;
    } else if (c === '}') {
      return { fixed, fields, error: 'A “}” has no “{” before it (write }} for a brace).' };
    } else {
      fixed += c;
    }
  }
  return { fixed, fields, error: null };
}
