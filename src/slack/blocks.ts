/**
 * Block Kit as this app emits it: Slack's documented limits (each with its source), the block
 * and message types the renderers build, and the marker block id that lets a later attempt find
 * what an earlier one posted. Pure: no I/O.
 */

// Limits. Source: Block Kit reference (docs.slack.dev/reference/block-kit/blocks, api.slack.com/
// reference/block-kit/block-elements) and docs/reference/slack.md.
/** Blocks per message (100 only in modals and Home tabs). */
export const MAX_BLOCKS = 50;
/** Characters of a section's `text`. */
export const MAX_SECTION_TEXT = 3_000;
/** Characters of a header's plain_text. */
export const MAX_HEADER_TEXT = 150;
/** Items in a section's `fields`. */
export const MAX_FIELDS = 10;
/** Characters of one section field. */
export const MAX_FIELD_TEXT = 2_000;
/** Elements of a context block. */
export const MAX_CONTEXT_ELEMENTS = 10;
/** Characters of a context element's text (same as a text object in a section). */
export const MAX_CONTEXT_TEXT = 3_000;
/** Characters of a `block_id`. */
export const MAX_BLOCK_ID = 255;
/** A button: text 75, value 2,000, url 3,000, action_id 255 characters; 25 elements per actions block. */
export const MAX_BUTTON_TEXT = 75;
export const MAX_BUTTON_VALUE = 2_000;
export const MAX_BUTTON_URL = 3_000;
export const MAX_ACTION_ID = 255;
/** chat.postMessage `text`: longer may be truncated (Slack answers msg_too_long far above it). */
export const MAX_MESSAGE_TEXT = 40_000;
/**
 * Our cap on the serialised blocks. slackapi/bolt-js#2509 reports `msg_blocks_too_long` at
 * about 13k characters of block text, below every documented limit: stay well under it.
 */
export const MAX_BLOCKS_JSON = 12_000;
/** Our cap on the fallback `text` (notifications show its first line; 40k is Slack's). */
export const MAX_FALLBACK_TEXT = 3_000;

/**
 * Marks the first block of a message so a later attempt can find what an earlier one posted
 * (a post whose answer was lost): `pf_<kind>` plus `_<tag>` when a tag is given.
 */
export function markerBlockId(kind: string, tag?: string): string {
  return (tag ? `pf_${kind}_${tag}` : `pf_${kind}`).slice(0, MAX_BLOCK_ID);
}

/** A Block Kit text object. */
export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
  emoji?: boolean;
}
/** A Block Kit button. */
export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: TextObject;
  value?: string;
  url?: string;
  style?: 'primary' | 'danger';
}
/** The Block Kit blocks this renderer emits. */
export type SlackBlock =
  | { type: 'header'; block_id?: string; text: TextObject }
  | { type: 'section'; block_id?: string; text?: TextObject; fields?: TextObject[] }
  | { type: 'context'; block_id?: string; elements: TextObject[] }
  | { type: 'actions'; block_id?: string; elements: ButtonElement[] }
  | { type: 'divider'; block_id?: string };

/** A message ready for chat.postMessage / chat.update. */
export interface SlackMessage {
  /** The readable fallback (notifications, screen readers), escaped like any mrkdwn. */
  text: string;
  blocks: SlackBlock[];
  /** What was cut or left out, for the log. Empty when everything fit. */
  cuts: string[];
}

/** The serialised size of blocks, as the budget counts it. */
export function blocksSize(blocks: readonly SlackBlock[]): number {
  return JSON.stringify(blocks).length;
}
