// js-enricher: a Beacon publish hook written in JavaScript.
//
// Same job as the Rust example `display-amount` (adds `displayAmount`, the
// amount written for people, to money events) and marks what it touched
// with `enrichedBy: "js"`, so the two can be told apart. Built into a
// component by build.mjs (componentize-js, world `publisher` of
// wit/plugin.wit): exports `plugin` and `publish`, imports `log`.

import { log } from 'beacon:plugin/log@0.1.0';

/** The catalogue's money events: the types the plugin is meant for. */
const TYPES = ['payment.*', 'escrow.*', 'order.created', 'wallet.payout', 'dispute.resolved', 'metrics.snapshot'];

/** Fields holding the amount, in the order they are looked for. */
const AMOUNT_FIELDS = ['amount', 'total', 'refundAmount', 'revenueToday'];

/** Currencies whose minor unit is not 1/100 (ISO 4217). */
const DECIMALS = {
  BHD: 3, BIF: 0, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0,
  KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
};

/** Currencies written with a symbol before the amount; others get their code after it. */
const SYMBOLS = { EUR: '€', GBP: '£', INR: '₹', JPY: '¥', KES: 'KSh ', KRW: '₩', NGN: '₦', USD: '$' };

/** Amounts are integers in minor units; larger ones lose precision in JavaScript. */
const MAX_SAFE_MINOR = Number.MAX_SAFE_INTEGER;

function groupThousands(digits) {
  let out = '';
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += ',';
    out += digits[i];
  }
  return out;
}

/** `minor` units of `currency`, for people: `€1,234.50`, `1,234.50 XYZ`. */
function display(minor, currency) {
  const decimals = DECIMALS[currency] ?? 2;
  const scale = 10 ** decimals;
  const magnitude = Math.abs(minor);
  const whole = groupThousands(String(Math.floor(magnitude / scale)));
  const number = decimals === 0 ? whole : `${whole}.${String(magnitude % scale).padStart(decimals, '0')}`;
  const sign = minor < 0 ? '-' : '';
  const symbol = SYMBOLS[currency];
  return symbol === undefined ? `${sign}${number} ${currency}` : `${sign}${symbol}${number}`;
}

/** The amount of `data` written for people, or undefined. */
function displayAmount(data) {
  const currency = data.currency;
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) return undefined;
  for (const field of AMOUNT_FIELDS) {
    const amount = data[field];
    if (Number.isInteger(amount) && Math.abs(amount) <= MAX_SAFE_MINOR) return display(amount, currency);
  }
  return undefined;
}

export const plugin = {
  describe() {
    return { name: 'js-enricher', version: '0.1.0', types: TYPES };
  },
};

export const publish = {
  onPublish(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      log('warn', `event data is not JSON, kept as is: ${error}`);
      return { tag: 'keep' };
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return { tag: 'keep' };
    const shown = displayAmount(data);
    if (shown === undefined) return { tag: 'keep' };
    data.displayAmount = shown;
    data.enrichedBy = 'js';
    return { tag: 'modify', val: { ...event, data: JSON.stringify(data) } };
  },
};
