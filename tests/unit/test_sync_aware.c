/*
 * test_sync_aware.c - the awareness table a sync server relays
 * (src/sync/yaware.h): y-protocols' clock rules, ownership per connection,
 * removal when a connection goes, and what is relayed each time.
 */
#include "test.h"

#include "sync/yaware.h"

static yaware_entry entry(uint64_t client, uint64_t clock, const char *state) {
    return (yaware_entry){
        .client = client, .clock = clock, .state = state, .state_len = strlen(state)};
}

/* Applies one entry from `owner`; returns how many entries were relayed
 * (-1 on error) and, when one was, checks it is `e` itself. */
static int apply_one(yaware *a, uint64_t owner, yaware_entry e) {
    uint8_t *relay = NULL;
    size_t len = 0;
    if (yaware_apply(a, owner, &e, 1, &relay, &len) != YPROTO_OK) return -1;
    if (relay == NULL) return 0;
    yaware_entry *out = NULL;
    size_t n = 0;
    int ok = yproto_awareness_decode(relay, len, 16, 1 << 16, &out, &n) == YPROTO_OK && n == 1 &&
             out[0].client == e.client && out[0].clock == e.clock &&
             out[0].state_len == e.state_len && memcmp(out[0].state, e.state, e.state_len) == 0;
    free(out);
    free(relay);
    return ok ? 1 : -1;
}

TEST(clock_rules_follow_y_protocols) {
    yaware *a = yaware_new();
    ASSERT_TRUE(a != NULL);
    /* an unknown client at clock 0 is ignored, as Yjs peers ignore it */
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 0, "{}")), 0);
    ASSERT_EQ_UINT(yaware_count(a), 0);
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 1, "{\"n\":1}")), 1);
    ASSERT_EQ_UINT(yaware_count(a), 1);
    /* older and equal clocks with a state change nothing */
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 1, "{\"n\":2}")), 0);
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 0, "{\"n\":3}")), 0);
    /* a renewal with the same state is relayed (peers time states out) */
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 2, "{\"n\":1}")), 1);
    /* the same clock with null removes */
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 2, "null")), 1);
    ASSERT_EQ_UINT(yaware_count(a), 0);
    /* removing again is not news */
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 2, "null")), 0);
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 3, "null")), 0);
    /* a departure of a client never seen is not relayed */
    ASSERT_EQ_INT(apply_one(a, 1, entry(11, 5, "null")), 0);
    yaware_free(a);
}

TEST(another_connection_cannot_rewrite_or_remove_a_client) {
    yaware *a = yaware_new();
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 1, "{\"me\":1}")), 1);
    ASSERT_EQ_INT(apply_one(a, 2, entry(10, 9, "{\"me\":2}")), 0);
    ASSERT_EQ_INT(apply_one(a, 2, entry(10, 1, "null")), 0);
    ASSERT_EQ_UINT(yaware_count(a), 1);
    yaware_free(a);
}

TEST(a_gone_connection_is_announced_and_its_clocks_kept) {
    yaware *a = yaware_new();
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 4, "{\"a\":1}")), 1);
    ASSERT_EQ_INT(apply_one(a, 1, entry(11, 2, "{\"b\":1}")), 1);
    ASSERT_EQ_INT(apply_one(a, 2, entry(20, 1, "{\"c\":1}")), 1);
    uint8_t *relay = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(yaware_remove_owner(a, 1, &relay, &len), YPROTO_OK);
    ASSERT_TRUE(relay != NULL);
    yaware_entry *out = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(yproto_awareness_decode(relay, len, 16, 1024, &out, &n), YPROTO_OK);
    ASSERT_EQ_UINT(n, 2);
    ASSERT_EQ_UINT(out[0].client, 10);
    ASSERT_EQ_UINT(out[0].clock, 4);
    ASSERT_EQ_MEM(out[0].state, out[0].state_len, "null", 4);
    ASSERT_EQ_UINT(out[1].client, 11);
    ASSERT_EQ_UINT(out[1].clock, 2);
    free(out);
    free(relay);
    ASSERT_EQ_UINT(yaware_count(a), 1);
    /* nothing more to announce for that connection */
    ASSERT_EQ_INT(yaware_remove_owner(a, 1, &relay, &len), YPROTO_OK);
    ASSERT_TRUE(relay == NULL);
    /* the client comes back on a new connection: its clock must count up */
    ASSERT_EQ_INT(apply_one(a, 3, entry(10, 4, "{\"a\":2}")), 0);
    ASSERT_EQ_INT(apply_one(a, 3, entry(10, 5, "{\"a\":2}")), 1);
    /* what a newcomer is told */
    ASSERT_EQ_INT(yaware_encode_all(a, &relay, &len), YPROTO_OK);
    ASSERT_EQ_INT(yproto_awareness_decode(relay, len, 16, 1024, &out, &n), YPROTO_OK);
    ASSERT_EQ_UINT(n, 2);
    free(out);
    free(relay);
    yaware_free(a);
}

TEST(only_changed_entries_of_a_batch_are_relayed) {
    yaware *a = yaware_new();
    ASSERT_EQ_INT(apply_one(a, 1, entry(10, 3, "{}")), 1);
    yaware_entry batch[3] = {entry(10, 1, "{\"old\":1}"), entry(12, 1, "{\"new\":1}"),
                             entry(13, 0, "{}")};
    uint8_t *relay = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(yaware_apply(a, 1, batch, 3, &relay, &len), YPROTO_OK);
    yaware_entry *out = NULL;
    size_t n = 0;
    ASSERT_EQ_INT(yproto_awareness_decode(relay, len, 16, 1024, &out, &n), YPROTO_OK);
    ASSERT_EQ_UINT(n, 1);
    ASSERT_EQ_UINT(out[0].client, 12);
    free(out);
    free(relay);
    yaware_free(a);
}

TEST(the_table_is_bounded) {
    yaware *a = yaware_new();
    for (uint64_t i = 1; i <= YAWARE_MAX_CLIENTS + 10; i++)
        ASSERT_EQ_INT(apply_one(a, 1, entry(i, 1, "{}")), i <= YAWARE_MAX_CLIENTS ? 1 : 0);
    ASSERT_EQ_UINT(yaware_count(a), YAWARE_MAX_CLIENTS);
    yaware_free(a);
    yaware_free(NULL);
}
