/*
 * test_crdt_updates.c - yupdate_merge, yupdate_diff and yupdate_state_vector
 * (src/crdt/updates.c) against bytes produced by the real Yjs.
 *
 * The table below is data: every row was printed by
 *   node scripts/gen-updates-vectors.mjs --c
 * which builds the inputs with Yjs 13.6 (node_modules/yjs) and records
 * Y.mergeUpdates(inputs), Y.diffUpdate(inputs[0], sv) or
 * Y.encodeStateVectorFromUpdate(inputs[0]). To add a case, add it to that
 * script, paste its new output here and run `make format`.
 *
 * Invariants checked besides the bytes: a failed call (bad input, injected
 * out-of-memory) returns an error and leaks nothing; a successful call's
 * buffer is owned by the caller and released with yfree.
 */
#include "crdt.h"
#include "test.h"

#define MAX_INPUTS 32

typedef struct {
    const char *name;
    const char *op; /* "merge", "diff" or "sv" */
    int n;
    const char *inputs[MAX_INPUTS];
    const char *sv;
    const char *out;
} vector;

static const vector vectors[] = {
    {"two_clients",
     "merge",
     2,
     {"01010100040101740568656c6c6f00", "010102000401017405776f726c6400"},
     "",
     "020102000401017405776f726c64010100040101740568656c6c6f00"},
    {"keystrokes",
     "merge",
     4,
     {"0101070004010174016100", "01010701840700016200", "01010702840701016300", "000107010101"},
     "",
     "01030700040101740161840700016284070101630107010101"},
    {"keystrokes_sv",
     "sv",
     1,
     {"01030700040101740161840700016284070101630107010101"},
     "",
     "010703"},
    {"map_overwrite",
     "merge",
     3,
     {"010103002801016d016b017d0100", "01010301a8030001770374776f0103010001",
      "010103022801016d016f017602017a7d01016175057c3fc000007c538000007d"
      "40787e00"},
     "",
     "010303002801016d016b017d0188030001770374776f2801016d016f01760201"
     "7a7d01016175057c3fc000007c538000007d40787e0103010001"},
    {"overlap_full_and_part",
     "merge",
     2,
     {"0101050484050308f09f9880f09f988000", "01010500040101740e61f09f988062f09f9880f09f988000"},
     "",
     "01010500040101740e61f09f988062f09f9880f09f988000"},
    {"overlap_part_and_full",
     "merge",
     2,
     {"01010500040101740e61f09f988062f09f9880f09f988000", "0101050484050308f09f9880f09f988000"},
     "",
     "01010500040101740e61f09f988062f09f9880f09f988000"},
    {"diff_empty_sv",
     "diff",
     1,
     {"01010500040101740e61f09f988062f09f9880f09f988000"},
     "00",
     "01010500040101740e61f09f988062f09f9880f09f988000"},
    {"diff_inside_pair",
     "diff",
     1,
     {"01010500040101740e61f09f988062f09f9880f09f988000"},
     "010502",
     "010105028405010cefbfbd62f09f9880f09f988000"},
    {"diff_after_pair",
     "diff",
     1,
     {"01010500040101740e61f09f988062f09f9880f09f988000"},
     "010503",
     "010105038405020962f09f9880f09f988000"},
    {"diff_inside_second",
     "diff",
     1,
     {"01010500040101740e61f09f988062f09f9880f09f988000"},
     "010505",
     "0101050584050407efbfbdf09f988000"},
    {"diff_all", "diff", 1, {"01010500040101740e61f09f988062f09f9880f09f988000"}, "010508", "0000"},
    {"gap_skip",
     "merge",
     2,
     {"01010b000401017402616200", "01010b04840b0302656600"},
     "",
     "01030b00040101740261620a02840b0302656600"},
    {"gap_skip_sv", "sv", 1, {"01030b00040101740261620a02840b0302656600"}, "", "010b02"},
    {"gap_only_late_sv", "sv", 1, {"01010b04840b0302656600"}, "", "00"},
    {"gap_skip_diff",
     "diff",
     1,
     {"01030b00040101740261620a02840b0302656600"},
     "010b01",
     "01030b01840b0001620a02840b0302656600"},
    {"delete_sets",
     "merge",
     6,
     {"01011500040101740a6162636465666768696a00", "000115010801", "000115010202", "000115010101",
      "000115010901", "000115010001"},
     "",
     "01011500040101740a6162636465666768696a01150200040802"},
    {"delete_sets_diff",
     "diff",
     1,
     {"01011500040101740a6162636465666768696a01150200040802"},
     "011505",
     "0101150584150405666768696a01150200040802"},
    {"gc_vs_items",
     "merge",
     2,
     {"01011f000101017403011f010003", "01011f00040101740378797a00"},
     "",
     "01011f000101017403011f010003"},
    {"items_vs_gc",
     "merge",
     2,
     {"01011f00040101740378797a00", "01011f000101017403011f010003"},
     "",
     "01011f00040101740378797a011f010003"},
    {"gc_vs_items_3",
     "merge",
     3,
     {"01011f00040101740378797a00", "01011f000101017403011f010003", "00011f010003"},
     "",
     "01011f00040101740378797a011f010003"},
    {"all_contents",
     "merge",
     7,
     {"010229000801036172720a7d017d417c3f0000007b7e37e43c8800759c770373"
      "74727e787976030131770179013277017801617d017501750175008329090301"
      "020300",
      "0101290b87290a0100", "0103290c0701017803017087290c060400290d02686900",
      "010329100601047269636804626f6c64047472756584291004626f6c64862914"
      "04626f6c64046e756c6c00",
      "01012916852915117b22696d616765223a22692e706e67227d00",
      "0101291789290b037375627601086175746f4c6f61647800", "000129010003"},
     "",
     "010b29000801036172720a7d017d417c3f0000007b7e37e43c8800759c770373"
     "74727e787976030131770179013277017801617d017501750175008329090301"
     "020387290a010701017803017087290c060400290d0268690601047269636804"
     "626f6c64047472756584291004626f6c6486291404626f6c64046e756c6c8529"
     "15117b22696d616765223a22692e706e67227d89290b03737562760108617574"
     "6f4c6f6164780129010003"},
    {"all_contents_diff",
     "diff",
     1,
     {"010b29000801036172720a7d017d417c3f0000007b7e37e43c8800759c770373"
      "74727e787976030131770179013277017801617d017501750175008329090301"
      "020387290a010701017803017087290c060400290d0268690601047269636804"
      "626f6c64047472756584291004626f6c6486291404626f6c64046e756c6c8529"
      "15117b22696d616765223a22692e706e67227d89290b03737562760108617574"
      "6f4c6f6164780129010003"},
     "012905",
     "010b2905882904057e787976030131770179013277017801617d017501750175"
     "008329090301020387290a010701017803017087290c060400290d0268690601"
     "047269636804626f6c64047472756584291004626f6c6486291404626f6c6404"
     "6e756c6c852915117b22696d616765223a22692e706e67227d89290b03737562"
     "7601086175746f4c6f6164780129010003"},
    {"all_contents_sv",
     "sv",
     1,
     {"010b29000801036172720a7d017d417c3f0000007b7e37e43c8800759c770373"
      "74727e787976030131770179013277017801617d017501750175008329090301"
      "020387290a010701017803017087290c060400290d0268690601047269636804"
      "626f6c64047472756584291004626f6c6486291404626f6c64046e756c6c8529"
      "15117b22696d616765223a22692e706e67227d89290b03737562760108617574"
      "6f4c6f6164780129010003"},
     "",
     "012918"},
    {"any_normalised",
     "merge",
     2,
     {"01010900080101610e7b40080000000000007b80000000000000007b3fe00000"
      "000000007b3ff199999999999a7b41e00000000000007b7ff80000000000007c"
      "40e000007c3dcccccd7c7f8000007d80808080107d8000760501627d0101377d"
      "0201627d03095f5f70726f746f5f5f7e013077017a7502760202313079013978"
      "7402aabb7a010203040506070800",
      "0000"},
     "",
     "01010900080101610e7d037d407c3f0000007b3ff199999999999a7c4f000000"
     "7b7ff80000000000007d077c3dcccccd7c7f8000007c4f0000007d0076030130"
     "77017a01377d0201627d0375027602013978023130797402aabb7a0102030405"
     "06070800"},
    {"odd_encodings",
     "merge",
     2,
     {"01038800800024050102016b0141a48800000142800300", "0000"},
     "",
     "0103080024000102016b01418408000142000300"},
    {"doc_options",
     "merge",
     2,
     {"0102090009010161016776050267637d00086175746f4c6f6164770379657304"
      "6d6574617e046775696477056f746865720565787472617d0189090001687602"
      "046d6574617601017a780267637f00",
      "0000"},
     "",
     "0102090009010161056f74686572760202676379086175746f4c6f6164788909"
     "0001687601046d6574617601017a7800"},
    {"json_normalised",
     "merge",
     2,
     {"010309000501016169207b226222203a205b312e35302c20225c75303034315c"
      "2f5c75643833645c75646530305c7564383030222c207b7d5d2c202231223a20"
      "3165322c20225f5f70726f746f5f5f223a206e756c6c2c202262223a20322c20"
      "2278223a202d302e30303030303031207d2086090004626f6c6422205b203165"
      "3231202c2031652d37202c20313233652d32202c203165393939205d20820901"
      "0209756e646566696e65640a225c745c75303030312200",
      "0000"},
     "",
     "01030900050101612a7b2231223a3130302c2262223a322c225f5f70726f746f"
     "5f5f223a6e756c6c2c2278223a2d31652d377d86090004626f6c64165b31652b"
     "32312c31652d372c312e32332c6e756c6c5d8209010209756e646566696e6564"
     "0a225c745c75303030312200"},
    {"merge_none", "merge", 0, {}, "", "0000"},
    {"many_shuffled",
     "merge",
     30,
     {"0101330004010174016100",
      "01013307c433063300016800",
      "0101330ec4330d3300016f00",
      "000133010801",
      "000133010101",
      "01013305843302016600",
      "0101330cc4330b3300016d00",
      "01013313c433123300017400",
      "000133011201",
      "01013303c433003301016400",
      "0101330ac433093300016b00",
      "01013311c433103300017200",
      "000133010e01",
      "01013301843300016200",
      "01013308c433073300016900",
      "0101330fc4330e3300017000",
      "000133010a01",
      "000133010201",
      "01013306443300016700",
      "0101330dc4330c3300016e00",
      "000133010601",
      "000133010001",
      "01013304c433013302016500",
      "0101330bc4330a3300016c00",
      "01013312c433113300017300",
      "000133011001",
      "01013302843301016300",
      "01013309c433083300016a00",
      "01013310c4330f3300017100",
      "000133010c01"},
     "",
     "0114330004010174016184330001628433010163c4330033010164c433013302"
     "016584330201664433000167c4330633000168c4330733000169c43308330001"
     "6ac433093300016bc4330a3300016cc4330b3300016dc4330c3300016ec4330d"
     "3300016fc4330e33000170c4330f33000171c4331033000172c4331133000173"
     "c43312330001740133080003060108010a010c010e0110011201"},
    {"merge_of_merges",
     "merge",
     2,
     {"0113330004010174016184330001620a01c43300330101640a0184330201660a"
      "01c4330633000168c43307330001690a01c433093300016b0a01c4330b330001"
      "6d0a01c4330d3300016f0a02c43310330001720a01c433123300017401330401"
      "0108010e011201",
      "01123301843300016284330101630a01c43301330201650a0144330001670a01"
      "c4330733000169c433083300016ac433093300016bc4330a3300016c0a01c433"
      "0c3300016e0a01c4330e33000170c4330f33000171c4331033000172c4331133"
      "0001730133070001020106010a010c010e011001"},
     "",
     "0114330004010174016184330001628433010163c4330033010164c433013302"
     "016584330201664433000167c4330633000168c4330733000169c43308330001"
     "6ac433093300016bc4330a3300016cc4330b3300016dc4330c3300016ec4330d"
     "3300016fc4330e33000170c4330f33000171c4331033000172c4331133000173"
     "c43312330001740133080003060108010a010c010e0110011201"},
};

#define NVECTORS (sizeof vectors / sizeof vectors[0])

/* Decodes hex into a new malloc'd buffer (caller frees with free). */
static uint8_t *unhex(const char *h, size_t *len) {
    size_t n = strlen(h) / 2;
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    *len = n;
    return b;
}

typedef struct {
    uint8_t *in[MAX_INPUTS];
    size_t len[MAX_INPUTS];
    uint8_t *sv, *want;
    size_t sv_len, want_len;
} decoded;

static void decode(const vector *v, decoded *d) {
    for (int i = 0; i < v->n; i++) d->in[i] = unhex(v->inputs[i], &d->len[i]);
    d->sv = unhex(v->sv, &d->sv_len);
    d->want = unhex(v->out, &d->want_len);
}

static void release(const vector *v, decoded *d) {
    for (int i = 0; i < v->n; i++) free(d->in[i]);
    free(d->sv);
    free(d->want);
}

/* Runs the vector's operation; *out is engine-owned on success. */
static int run(const vector *v, const decoded *d, uint8_t **out, size_t *out_len) {
    if (strcmp(v->op, "merge") == 0)
        return yupdate_merge((const uint8_t *const *)d->in, d->len, (size_t)v->n, out, out_len);
    if (strcmp(v->op, "diff") == 0)
        return yupdate_diff(d->in[0], d->len[0], d->sv, d->sv_len, out, out_len);
    return yupdate_state_vector(d->in[0], d->len[0], out, out_len);
}

static void check_vector(const vector *v) {
    decoded d;
    uint8_t *out = NULL;
    size_t out_len = 0;
    decode(v, &d);
    int rc = run(v, &d, &out, &out_len);
    bool same = rc == Y_OK && out_len == d.want_len && memcmp(out, d.want, out_len) == 0;
    if (!same) {
        fprintf(stderr, "vector %s (%s): rc %d\n", v->name, v->op, rc);
        if (rc == Y_OK) test_print_hex("actual", out, out_len);
        test_print_hex("expected", d.want, d.want_len);
    }
    if (rc == Y_OK) yfree(out);
    release(v, &d);
    ASSERT_TRUE(same);
}

TEST(vectors_match_yjs) {
    for (size_t i = 0; i < NVECTORS; i++) CHECK_HELPER(check_vector(&vectors[i]));
}

/* Every allocation of every operation may fail: the call reports it and
 * holds no memory afterwards; with enough allocations it succeeds. */
static void check_oom(const vector *v) {
    decoded d;
    decode(v, &d);
    size_t base, peak;
    yalloc_stats(&base, &peak);
    for (size_t k = 1; k < 10000; k++) {
        uint8_t *out = NULL;
        size_t out_len = 0, now;
        yalloc_fail_after(k);
        int rc = run(v, &d, &out, &out_len);
        yalloc_fail_after(0);
        if (rc == Y_OK) {
            ASSERT_EQ_MEM(out, out_len, d.want, d.want_len);
            yfree(out);
            break;
        }
        ASSERT_EQ_INT(rc, Y_ERR_NOMEM);
        yalloc_stats(&now, &peak);
        ASSERT_EQ_UINT(now, base);
    }
    release(v, &d);
}

TEST(out_of_memory_everywhere) {
    for (size_t i = 0; i < NVECTORS; i++) CHECK_HELPER(check_oom(&vectors[i]));
}

/* Memory held during a call stays within a small multiple of the input. */
TEST(peak_memory_is_bounded) {
    for (size_t i = 0; i < NVECTORS; i++) {
        const vector *v = &vectors[i];
        decoded d;
        size_t total = 0, base, peak;
        uint8_t *out = NULL;
        size_t out_len;
        decode(v, &d);
        for (int j = 0; j < v->n; j++) total += d.len[j];
        total += d.sv_len;
        yalloc_stats(&base, NULL);
        yalloc_reset_peak();
        ASSERT_EQ_INT(run(v, &d, &out, &out_len), Y_OK);
        yalloc_stats(NULL, &peak);
        ASSERT_TRUE(peak - base <= 32 * total + 4096);
        yfree(out);
        release(v, &d);
    }
}

/* Every proper prefix of every input is refused or, where the cut happens
 * to leave a well-formed update, accepted; never a crash, never a leak. */
TEST(truncated_inputs_fail_cleanly) {
    for (size_t i = 0; i < NVECTORS; i++) {
        const vector *v = &vectors[i];
        decoded d;
        decode(v, &d);
        for (int j = 0; j < v->n; j++) {
            size_t full = d.len[j], base, now;
            yalloc_stats(&base, NULL);
            for (size_t cut = 0; cut < full; cut++) {
                uint8_t *out = NULL;
                size_t out_len;
                d.len[j] = cut;
                int rc = run(v, &d, &out, &out_len);
                ASSERT_TRUE(rc == Y_OK || rc == Y_ERR_MALFORMED);
                if (rc == Y_OK) yfree(out);
                yalloc_stats(&now, NULL);
                ASSERT_EQ_UINT(now, base);
            }
            d.len[j] = full;
        }
        release(v, &d);
    }
}

TEST(merge_of_one_update_is_a_checked_copy) {
    static const uint8_t u[] = {0x01, 0x01, 0x01, 0x00, 0x04, 0x01, 0x01, 0x74,
                                0x05, 'h',  'e',  'l',  'l',  'o',  0x00};
    const uint8_t *in[1] = {u};
    size_t lens[1] = {sizeof u};
    uint8_t *out = NULL;
    size_t out_len = 0;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 1, &out, &out_len), Y_OK);
    ASSERT_EQ_MEM(out, out_len, u, sizeof u);
    yfree(out);
    lens[0] = sizeof u - 1; /* no delete set */
    ASSERT_EQ_INT(yupdate_merge(in, lens, 1, &out, &out_len), Y_ERR_MALFORMED);
}

TEST(bad_arguments) {
    static const uint8_t empty[] = {0x00, 0x00};
    const uint8_t *in[1] = {empty};
    size_t lens[1] = {2};
    uint8_t *out = NULL;
    size_t out_len;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 1, NULL, &out_len), Y_ERR_INVALID);
    ASSERT_EQ_INT(yupdate_merge(NULL, NULL, 1, &out, &out_len), Y_ERR_INVALID);
    ASSERT_EQ_INT(yupdate_diff(NULL, 4, empty, 2, &out, &out_len), Y_ERR_INVALID);
    ASSERT_EQ_INT(yupdate_state_vector(empty, 2, &out, NULL), Y_ERR_INVALID);
    /* an empty state vector is not a state vector (Yjs throws too) */
    ASSERT_EQ_INT(yupdate_diff(empty, 2, empty, 0, &out, &out_len), Y_ERR_MALFORMED);
}

/* Strings must be well-formed UTF-8: lib0 decodes with a fatal TextDecoder,
 * so Y.mergeUpdates throws on these (checked with
 * Y.mergeUpdates([Buffer.from('0101010004010174' + '02eda0' ... ), ...])). */
TEST(invalid_utf8_is_refused) {
    static const uint8_t lone_surrogate[] = {0x01, 0x01, 0x01, 0x00, 0x04, 0x01, 0x01,
                                             0x74, 0x03, 0xed, 0xa0, 0x80, 0x00};
    static const uint8_t overlong[] = {0x01, 0x01, 0x01, 0x00, 0x04, 0x01,
                                       0x01, 0x74, 0x02, 0xc0, 0xaf, 0x00};
    static const uint8_t empty[] = {0x00, 0x00};
    const uint8_t *in[2] = {lone_surrogate, empty};
    size_t lens[2] = {sizeof lone_surrogate, sizeof empty};
    uint8_t *out = NULL;
    size_t out_len;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
    in[0] = overlong;
    lens[0] = sizeof overlong;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
    ASSERT_EQ_INT(yupdate_state_vector(overlong, sizeof overlong, &out, &out_len), Y_ERR_MALFORMED);
}

/* Counts that claim more than the input holds are refused before anything
 * proportional to them is allocated. */
TEST(huge_counts_are_refused_cheaply) {
    /* 2^53-1 clients; 2^53-1 structs; a string of 2^53-1 bytes; a delete
     * set with 2^53-1 ranges; an Any array of 2^53-1 elements */
    static const uint8_t many_clients[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    static const uint8_t many_structs[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0x0f, 0x01, 0x00, 0x00};
    static const uint8_t long_string[] = {0x01, 0x01, 0x01, 0x00, 0x04, 0x01, 0x01, 0x74, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    static const uint8_t many_dels[] = {0x00, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0x0f, 0x00, 0x01};
    static const uint8_t any_array[] = {0x01, 0x01, 0x01, 0x00, 0x08, 0x01, 0x01, 0x61, 0x01,
                                        0x75, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
    static const uint8_t too_big[] = {0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0x7f, 0x00, 0x00}; /* client > 2^53 */
    const uint8_t *hostile[] = {many_clients, many_structs, long_string,
                                many_dels,    any_array,    too_big};
    const size_t lens[] = {sizeof many_clients, sizeof many_structs, sizeof long_string,
                           sizeof many_dels,    sizeof any_array,    sizeof too_big};
    static const uint8_t empty[] = {0x00, 0x00}, sv0[] = {0x00};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        const uint8_t *in[2] = {hostile[i], empty};
        size_t l2[2] = {lens[i], sizeof empty};
        uint8_t *out = NULL;
        size_t out_len, base, peak;
        yalloc_stats(&base, NULL);
        yalloc_reset_peak();
        ASSERT_EQ_INT(yupdate_merge(in, l2, 2, &out, &out_len), Y_ERR_MALFORMED);
        ASSERT_EQ_INT(yupdate_diff(hostile[i], lens[i], sv0, 1, &out, &out_len), Y_ERR_MALFORMED);
        ASSERT_EQ_INT(yupdate_state_vector(hostile[i], lens[i], &out, &out_len), Y_ERR_MALFORMED);
        yalloc_stats(NULL, &peak);
        ASSERT_TRUE(peak - base < 4096);
    }
}

/* Deep Any nesting is refused (lib0.h's YANY_MAX_DEPTH), not recursed into
 * until the stack runs out. */
TEST(deep_any_nesting_is_refused) {
    enum { DEPTH = 100000 };
    uint8_t *u = malloc(DEPTH * 2 + 16);
    size_t n = 0;
    const uint8_t head[] = {0x01, 0x01, 0x01, 0x00, 0x08, 0x01, 0x01, 0x61, 0x01};
    memcpy(u, head, sizeof head);
    n = sizeof head;
    for (int i = 0; i < DEPTH; i++) {
        u[n++] = 0x75; /* array of one */
        u[n++] = 0x01;
    }
    u[n++] = 0x7e; /* null */
    u[n++] = 0x00;
    uint8_t *out = NULL;
    size_t out_len;
    int rc = yupdate_state_vector(u, n, &out, &out_len);
    free(u);
    ASSERT_EQ_INT(rc, Y_ERR_MALFORMED);
}

/* Regression (found by fuzz_merge_updates): two delete ranges that are
 * each readable merged into one ending at 2^53, which no decoder here could
 * read back. Ranges that end past 2^53 - 1 are refused on input. */
TEST(delete_range_past_2pow53_is_refused) {
    static const uint8_t a[] = {0x00, 0x01, 0x04, 0x01, 0x00, 0x01};
    static const uint8_t b[] = {0x00, 0x01, 0x04, 0x01, 0x01, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}; /* [1, 2^53) */
    const uint8_t *in[2] = {a, b};
    size_t lens[2] = {sizeof a, sizeof b};
    uint8_t *out = NULL;
    size_t out_len;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
    ASSERT_EQ_INT(yupdate_state_vector(b, sizeof b, &out, &out_len), Y_ERR_MALFORMED);
}

/* ContentDoc options of null or undefined make Yjs throw (it reads
 * opts.shouldLoad); checked with
 * Y.mergeUpdates([Buffer.from('010109000901016101677e00', 'hex'), new Uint8Array([0, 0])]). */
TEST(subdocument_without_options_is_refused) {
    static const uint8_t null_opts[] = {1, 1, 9, 0, 9, 1, 1, 'a', 1, 'g', 0x7e, 0};
    static const uint8_t undefined_opts[] = {1, 1, 9, 0, 9, 1, 1, 'a', 1, 'g', 0x7f, 0};
    static const uint8_t empty[] = {0, 0};
    const uint8_t *in[2] = {null_opts, empty};
    size_t lens[2] = {sizeof null_opts, sizeof empty};
    uint8_t *out = NULL;
    size_t out_len;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
    in[0] = undefined_opts;
    lens[0] = sizeof undefined_opts;
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
}

/* JSON texts nest at most as deep as the document's reader allows
 * (YANY_MAX_DEPTH, json.c), so merge and apply accept the same updates:
 * 65 nested empty arrays pass, a value inside 65 arrays does not. (Yjs has
 * no such limit; these inputs are far from anything it produces.) */
static size_t json_embed_update(uint8_t *u, int depth, bool with_value) {
    size_t n = 0, len = (size_t)depth * 2 + (with_value ? 1 : 0);
    const uint8_t head[] = {1, 1, 9, 0, 5, 1, 1, 'a'};
    memcpy(u, head, sizeof head);
    n = sizeof head;
    u[n++] = (uint8_t)(0x80 | (len & 0x7f));
    u[n++] = (uint8_t)(len >> 7);
    for (int i = 0; i < depth; i++) u[n++] = '[';
    if (with_value) u[n++] = '1';
    for (int i = 0; i < depth; i++) u[n++] = ']';
    u[n++] = 0;
    return n;
}

TEST(json_nesting_limit_matches_document) {
    uint8_t u[512];
    static const uint8_t empty[] = {0, 0};
    const uint8_t *in[2] = {u, empty};
    size_t lens[2] = {0, sizeof empty};
    uint8_t *out = NULL;
    size_t out_len;
    lens[0] = json_embed_update(u, 65, false);
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_OK);
    yfree(out);
    lens[0] = json_embed_update(u, 65, true);
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
    lens[0] = json_embed_update(u, 66, false);
    ASSERT_EQ_INT(yupdate_merge(in, lens, 2, &out, &out_len), Y_ERR_MALFORMED);
}
