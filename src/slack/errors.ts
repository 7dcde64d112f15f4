/**
 * Every Slack error code the Slack code can meet, classified once: retryable (Slack's side or
 * a passing state; the pipeline's retry stage tries again) or final (a person must change
 * something, or our request was wrong: retrying burns the budget for nothing). Final codes say
 * what to fix. Codes with a `role` are final for the call but handled by the caller without
 * using a retry: a dead thread or message (a new thread or message is started), a channel that
 * must be looked up again or joined.
 *
 * Source: each method's documented error codes (docs.slack.dev/reference/methods/<method>, as
 * listed in docs/reference/slack.md "Error codes of the methods pagefirst calls", from
 * slack-ruby/slack-api-ref); test/slack/errors.test.ts checks that every listed code is here.
 * Codes no current list names are added: `thread_not_found` from chat.postMessage (a reply to a
 * deleted parent; issue 14's field report, slackapi/bolt-js#2307), and Slack's common
 * `internal_error`, `invalid_auth`, `invalid_arguments`.
 */

/** What the caller does beyond retrying or not. */
export type SlackErrorRole =
  /** The thread parent is gone (deleted, retention): forget the thread, start a new one. */
  | 'dead_thread'
  /** The message to edit is gone or cannot be edited: post a new one. */
  | 'dead_message'
  /** The channel is archived or frozen: nothing can be posted there. */
  | 'archived'
  /** The channel id is unknown (deleted, renamed and recreated, or private without us): look a configured name up again. */
  | 'channel_not_found'
  /** The bot is not a member of a public channel: join it where the scope allows. */
  | 'not_in_channel';

export interface SlackErrorClass {
  retryable: boolean;
  /** For final codes: what the operator should do. */
  fix?: string;
  role?: SlackErrorRole;
}

const REPORT = 'Slack refused the request pagefirst built: report this with the diagnostic id';
const REINSTALL = 'slack.token is not valid for this workspace: reinstall the app and update slack.token';
const ADMIN = 'a workspace or Enterprise setting stops the app here: ask a Slack admin';
const FILES = 'the workspace does not allow the pool chart upload: set slack.chart: false, or ask a Slack admin';

/** Codes grouped by how they are handled; flattened into SLACK_ERRORS below. */
const GROUPS: Array<{ codes: string[] } & SlackErrorClass> = [
  // Slack's side, or a passing state: try again (chat.update/files.* "fatal_error ... some aspect may have
  // succeeded": the notifier looks for what an earlier attempt posted before posting again).
  {
    retryable: true,
    codes: [
      'fatal_error',
      'internal_error',
      'service_unavailable',
      'request_timeout',
      'ratelimited',
      'rate_limited',
      'message_limit_exceeded',
      'team_added_to_org',
      'org_login_required',
      'external_channel_migrating',
      'update_failed',
      'file_update_failed',
      'streaming_state_conflict',
      'list_record_comment_fetch_failed',
      // a cursor that expired mid-listing: the listing starts again
      'invalid_cursor',
    ],
  },
  {
    retryable: false,
    fix: REINSTALL,
    codes: ['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'account_inactive', 'not_allowed_token_type', 'is_bot'],
  },
  {
    retryable: false,
    fix: 'add the missing bot scope to the Slack app (slack/manifest.yml lists them) and reinstall it',
    codes: ['missing_scope', 'no_permission'],
  },
  {
    retryable: false,
    fix: ADMIN,
    codes: [
      'access_denied',
      'accesslimited',
      'app_access_restricted',
      'ekm_access_denied',
      'enterprise_is_restricted',
      'two_factor_setup_required',
      'restricted_action',
      'restricted_action_read_only_channel',
      'restricted_action_thread_only_channel',
      'restricted_action_thread_locked',
      'restricted_action_non_threadable_channel',
      'posting_to_channel_denied',
      'channel_is_limited_access',
      'team_not_found',
      'too_many_members',
      'messages_tab_disabled',
      'slack_connect_canvas_sharing_blocked',
      'slack_connect_file_link_sharing_blocked',
      'slack_connect_lists_sharing_blocked',
      'slack_connect_blocked_file_type',
      'slack_connect_clip_sharing_blocked',
      'slack_connect_file_upload_sharing_blocked',
    ],
  },
  {
    retryable: false,
    fix: FILES,
    codes: [
      'file_uploads_disabled',
      'file_uploads_except_images_disabled',
      'file_type_not_allowed',
      'file_upload_size_restricted',
      'storage_limit_reached',
      'blocked_file_type',
      'file_share_limit_reached',
      'max_file_sharing_exceeded',
      'unable_to_share_files',
    ],
  },
  {
    retryable: false,
    fix: 'this Slack method is not available to the app: upgrade pagefirst, or report it',
    codes: ['unknown_method', 'method_deprecated', 'deprecated_endpoint'],
  },
  // Our request was wrong: a bug to report, never fixed by retrying.
  {
    retryable: false,
    fix: REPORT,
    codes: [
      'invalid_arguments',
      'invalid_arg_name',
      'invalid_array_arg',
      'invalid_charset',
      'invalid_form_data',
      'invalid_post_type',
      'missing_post_type',
      'missing_argument',
      'invalid_blocks',
      'invalid_blocks_format',
      'invalid_attachments',
      'msg_too_long',
      'msg_blocks_too_long',
      'no_text',
      'markdown_text_conflict',
      'too_many_attachments',
      'attachment_payload_limit_exceeded',
      'too_many_contact_cards',
      'invalid_metadata_format',
      'invalid_metadata_schema',
      'metadata_must_be_sent_from_app',
      'metadata_too_large',
      'invalid_metadata_filter_keys',
      'as_user_not_supported',
      'send_on_behalf_not_allowed',
      'missing_file_data',
      'duplicate_channel_not_found',
      'duplicate_message_not_found',
      'draft_already_deleted',
      'draft_already_sent',
      'draft_has_conflict',
      'draft_not_found',
      'invalid_limit',
      'invalid_types',
      'invalid_ts_latest',
      'invalid_ts_oldest',
      'alt_txt_too_large',
      'snippet_too_large',
      'unknown_snippet_type',
      'unknown_subtype',
      'channels_limit_exceeded',
      'cant_broadcast_message',
      'no_dual_broadcast_content_update',
      'block_mismatch',
      'file_deleted',
      'file_is_deleted',
      'file_not_found',
      'user_not_in_channel',
      'cant_delete_message',
    ],
  },
  // Gone: handled by the caller without a retry.
  {
    retryable: false,
    role: 'dead_thread',
    fix: 'the thread parent was deleted: a new thread is started',
    codes: ['thread_not_found', 'cannot_reply_to_message'],
  },
  {
    retryable: false,
    role: 'dead_message',
    fix: 'the message was deleted or cannot be edited: a new one is posted',
    codes: ['message_not_found', 'cant_update_message', 'edit_window_closed'],
  },
  {
    retryable: false,
    role: 'archived',
    fix: 'the channel is archived: unarchive it or configure another channel',
    codes: ['is_archived', 'is_inactive'],
  },
  {
    retryable: false,
    role: 'channel_not_found',
    fix: 'check slack.alertsChannel / slack.incidentChannel: a channel the app can see (a private one must invite it), by id (C…) or by name (#alerts)',
    codes: ['channel_not_found', 'invalid_channel'],
  },
  {
    retryable: false,
    role: 'not_in_channel',
    fix: 'invite the Slack app to the channel (/invite @pagefirst), or give it the channels:join scope so it joins public channels itself',
    codes: ['not_in_channel'],
  },
  {
    retryable: false,
    fix: 'a private channel cannot be joined: invite the Slack app to it (/invite @pagefirst)',
    codes: ['method_not_supported_for_channel_type'],
  },
];

/** The table: Slack error code → how it is handled. */
export const SLACK_ERRORS: Readonly<Record<string, SlackErrorClass>> = Object.freeze(
  Object.fromEntries(GROUPS.flatMap(({ codes, ...c }) => codes.map((code) => [code, Object.freeze({ ...c })]))),
);

/** How `code` is handled; a code Slack adds later is retryable (bounded by the retry budget) and marked unclassified. */
export function slackErrorClass(code: string): SlackErrorClass & { unclassified?: true } {
  return SLACK_ERRORS[code] ?? { retryable: true, unclassified: true };
}
