/* CSV/TSV tables: Yeast written as CSV reads back bit-identical to the ARFF
 * file; RFC 4180 quoting; label choice by count, names and prefix; missing
 * values (error or imputed); gzip; hostile input; the data-format guess. */
#include "testutil.h"
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mlcl_csv_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *tmp(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static const char *spit(const char *name, const void *data, size_t len)
{
    const char *p = tmp(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    if (len) ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static const char *spits(const char *name, const char *text) { return spit(name, text, strlen(text)); }

static mlcl_csv_options opts_last(int n)
{
    mlcl_csv_options o;
    ck_assert_ok(mlcl_csv_options_init(&o, MLCL_CSV_OPTIONS_VERSION));
    o.n_labels = n;
    return o;
}

/* ---------------------------------------------------------------- Yeast */

/* Writes ds as CSV (features then labels, names in the header, %.9g). */
static void write_csv(const mlcl_dataset *ds, const char *path, int gz)
{
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    size_t cap = (size_t)n * (size_t)(d + c) * 20 + 65536, len = 0;
    char *buf = malloc(cap);
    for (int j = 0; j < d + c; j++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", j ? "," : "",
                                j < d ? ds_feature_name(ds, j) : ds_label_name(ds, j - d));
    buf[len++] = '\n';
    const float *x = mlcl_dataset_features(ds);
    const uint8_t *y = mlcl_dataset_labels(ds);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%.9g", j ? "," : "", (double)x[(size_t)i * d + j]);
        for (int j = 0; j < c; j++) len += (size_t)snprintf(buf + len, cap - len, ",%d", y[(size_t)i * c + j]);
        buf[len++] = '\n';
    }
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, buf, (unsigned)len), (int)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        fclose(f);
    }
    free(buf);
}

static void assert_same(const mlcl_dataset *a, const mlcl_dataset *b)
{
    int n, d, c, n2, d2, c2;
    ck_assert_ok(mlcl_dataset_dims(a, &n, &d, &c));
    ck_assert_ok(mlcl_dataset_dims(b, &n2, &d2, &c2));
    ck_assert_int_eq(n, n2);
    ck_assert_int_eq(d, d2);
    ck_assert_int_eq(c, c2);
    ck_assert_int_eq(memcmp(mlcl_dataset_features(a), mlcl_dataset_features(b), (size_t)n * d * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(mlcl_dataset_labels(a), mlcl_dataset_labels(b), (size_t)n * c), 0);
    ck_assert_int_eq(memcmp(mlcl_dataset_labels_packed(a), mlcl_dataset_labels_packed(b),
                            (size_t)n * (int)mlcl_label_words(c) * 8), 0);
    for (int j = 0; j < d; j++) ck_assert_str_eq(ds_feature_name(a, j), ds_feature_name(b, j));
    for (int j = 0; j < c; j++) ck_assert_str_eq(ds_label_name(a, j), ds_label_name(b, j));
}

START_TEST(yeast_bit_identical)
{
    const char *names[] = { "yeast-train.arff.gz", "yeast-test.arff.gz" };
    for (int f = 0; f < 2; f++) {
        char arff[1024];
        snprintf(arff, sizeof arff, "%s/%s", test_data_dir(), names[f]);
        struct stat st;
        ck_assert_msg(stat(arff, &st) == 0, "missing %s (set MLCL_DATA_DIR)", arff);
        mlcl_dataset *ref = NULL, *a = NULL, *b = NULL, *g = NULL, *p = NULL;
        ck_assert_ok(mlcl_dataset_load_arff(&ref, arff, 0, 0));
        int n, d, c;
        ck_assert_ok(mlcl_dataset_dims(ref, &n, &d, &c));
        ck_assert_int_eq(d, 103);
        ck_assert_int_eq(c, 14);
        const char *csv = tmp("yeast.csv"), *csvgz = tmp("yeast.csv.gz");
        write_csv(ref, csv, 0);
        write_csv(ref, csvgz, 1);
        /* last 14 columns */
        mlcl_csv_options o = opts_last(14);
        ck_assert_ok(mlcl_dataset_load_csv(&a, csv, &o));
        assert_same(ref, a);
        /* gzip: transparent */
        ck_assert_ok(mlcl_dataset_load_csv(&g, csvgz, &o));
        assert_same(ref, g);
        /* by names: every label name, in order */
        char list[2048] = "";
        for (int j = 0; j < c; j++) {
            strcat(list, j ? "," : "");
            strcat(list, ds_label_name(ref, j));
        }
        o.n_labels = 0;
        o.label_columns = list;
        ck_assert_ok(mlcl_dataset_load_csv(&b, csv, &o));
        assert_same(ref, b);
        /* by prefix: Yeast's labels are Class1..Class14 */
        ck_assert_str_eq(ds_label_name(ref, 0), "Class1");
        o.label_columns = NULL;
        o.label_prefix = "Class";
        ck_assert_ok(mlcl_dataset_load_csv(&p, csv, &o));
        assert_same(ref, p);
        mlcl_dataset_free(ref); mlcl_dataset_free(a); mlcl_dataset_free(b); mlcl_dataset_free(g); mlcl_dataset_free(p);
    }
}
END_TEST

/* ---------------------------------------------------------------- syntax */

START_TEST(quoting_rfc4180)
{
    /* BOM, CRLF, quoted names with the delimiter, "" escapes and a newline;
     * blank lines; blanks around numbers; a quoted number */
    const char *text =
        "\xEF\xBB\xBF" "\"height, cm\",\"the \"\"weight\"\"\",\"multi\nline\",lab\r\n"
        "  1.5 , 2 ,\"3\",1\r\n"
        "\r\n"
        "4,5e-1,-6,0\n"
        "\n";
    const char *p = spits("q.csv", text);
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o = opts_last(1);
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    int n, d, c;
    mlcl_dataset_dims(ds, &n, &d, &c);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(d, 3);
    ck_assert_int_eq(c, 1);
    ck_assert_str_eq(ds_feature_name(ds, 0), "height, cm");
    ck_assert_str_eq(ds_feature_name(ds, 1), "the \"weight\"");
    ck_assert_str_eq(ds_feature_name(ds, 2), "multi\nline");
    ck_assert_str_eq(ds_label_name(ds, 0), "lab");
    const float *x = mlcl_dataset_features(ds);
    const float want[6] = { 1.5f, 2.0f, 3.0f, 4.0f, 0.5f, -6.0f };
    for (int i = 0; i < 6; i++) ck_assert_float_eq(x[i], want[i]);
    ck_assert_int_eq(mlcl_dataset_labels(ds)[0], 1);
    ck_assert_int_eq(mlcl_dataset_labels(ds)[1], 0);
    mlcl_dataset_free(ds);

    /* a record spanning lines: errors after it name the right line */
    p = spits("q2.csv", "a,\"b\nb\",l\n1,2,0\n1,x,1\n");
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "line 4, column 2 ('b\nb'): 'x' is not a number");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(tsv_and_delimiters)
{
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o = opts_last(2);
    /* by extension */
    const char *p = spits("t.tsv", "a b\tc,d\ty1\ty2\n1\t2\t0\t1\n");
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    ck_assert_str_eq(ds_feature_name(ds, 0), "a b");
    ck_assert_str_eq(ds_feature_name(ds, 1), "c,d");
    ck_assert_float_eq(mlcl_dataset_features(ds)[1], 2.0f);
    mlcl_dataset_free(ds);
    /* sniffed: tabs and no comma */
    p = spits("t.txt", "a\tb\ty1\ty2\n1\t2\t0\t1\n");
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    ck_assert_float_eq(mlcl_dataset_features(ds)[1], 2.0f);
    mlcl_dataset_free(ds);
    /* explicit ';' */
    p = spits("t.ssv", "a;b;y1;y2\n1;2,5;0;1\n");
    o.delimiter = ';';
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "'2,5' is not a number");
    o.delimiter = 'x';
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "delimiter");
}
END_TEST

START_TEST(no_header)
{
    const char *p = spits("nh.csv", "0.0937,0.5,1\n2,3,0\n");
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o = opts_last(1);
    /* read with a header, the first row becomes the names (what the format guess prevents) */
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    ck_assert_str_eq(ds_feature_name(ds, 0), "0.0937");
    mlcl_dataset_free(ds);
    o.no_header = 1;
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    int n, d, c;
    mlcl_dataset_dims(ds, &n, &d, &c);
    ck_assert_int_eq(n, 2); ck_assert_int_eq(d, 2); ck_assert_int_eq(c, 1);
    ck_assert_str_eq(ds_feature_name(ds, 1), "c2");
    ck_assert_str_eq(ds_label_name(ds, 0), "c3");
    ck_assert_float_eq(mlcl_dataset_features(ds)[0], 0.0937f);
    ck_assert_float_eq(mlcl_dataset_features(ds)[3], 3.0f);
    ck_assert_int_eq(mlcl_dataset_labels(ds)[0], 1);
    mlcl_dataset_free(ds);
    /* the first column as the label */
    o.labels_first = 1;
    ck_assert_ok(mlcl_dataset_load_csv(&ds, spits("lf.csv", "1,0.5,1\n0,3,4\n"), &o));
    ck_assert_str_eq(ds_label_name(ds, 0), "c1");
    ck_assert_str_eq(ds_feature_name(ds, 0), "c2");
    ck_assert_float_eq(mlcl_dataset_features(ds)[1], 1.0f);
    ck_assert_int_eq(mlcl_dataset_labels(ds)[1], 0);
    mlcl_dataset_free(ds);
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, spits("nh3.csv", "0.5,1,0\n"), &o), MLCL_EFORMAT,
                         "line 1, column 1 ('c1'): label value '0.5' is not 0 or 1");
    o.labels_first = 0;
    p = spits("nh2.csv", "1,2,1\n2,3\n");
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "line 2: 2 fields, but the first line has 3 columns");
}
END_TEST

START_TEST(label_choice)
{
    const char *p = spits("l.csv", "f1,is_cat,f2,is_dog\n1,1,2,0\n3,0,4,1\n");
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o;
    mlcl_csv_options_init(&o, MLCL_CSV_OPTIONS_VERSION);
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "say which columns are labels");
    o.label_prefix = "is_";
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    ck_assert_str_eq(ds_label_name(ds, 0), "is_cat");
    ck_assert_str_eq(ds_label_name(ds, 1), "is_dog");
    ck_assert_str_eq(ds_feature_name(ds, 1), "f2");
    const float *x = mlcl_dataset_features(ds);
    ck_assert_float_eq(x[0], 1.0f); ck_assert_float_eq(x[1], 2.0f);
    ck_assert_float_eq(x[2], 3.0f); ck_assert_float_eq(x[3], 4.0f);
    const uint8_t *y = mlcl_dataset_labels(ds);
    ck_assert_int_eq(y[0], 1); ck_assert_int_eq(y[1], 0); ck_assert_int_eq(y[2], 0); ck_assert_int_eq(y[3], 1);
    mlcl_dataset_free(ds);
    o.label_prefix = NULL;
    o.label_columns = "is_dog, is_cat"; /* the columns keep the file's order */
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    ck_assert_str_eq(ds_label_name(ds, 0), "is_cat");
    mlcl_dataset_free(ds);
    o.label_columns = "is_dog,is_bird";
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "label column 'is_bird' is not in the header");
    o.label_columns = "is_dog,is_dog";
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "named twice");
    o.label_columns = "f1,is_cat,f2,is_dog";
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "at least one feature");
    o.label_columns = NULL;
    o.n_labels = 4;
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "at least one feature");
    o.label_prefix = "x";
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "only one of");
    o.label_prefix = "zz";
    o.n_labels = 0;
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "no column name starts with");
    o.version = 99;
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EVERSION, "version");
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, NULL), MLCL_EINVAL, "o is NULL");
    ck_assert_ptr_null(ds);
    /* the macro and the function agree byte for byte */
    mlcl_csv_options m = MLCL_CSV_OPTIONS_INIT, f;
    memset(&f, 0xAB, sizeof f);
    ck_assert_ok(mlcl_csv_options_init(&f, MLCL_CSV_OPTIONS_VERSION));
    ck_assert_int_eq(memcmp(&m, &f, sizeof m), 0);
}
END_TEST

START_TEST(missing_values)
{
    const char *p = spits("m.csv", "a,b,y\n1,2,1\n3,,0\n5,NA,1\n7,8,0\n");
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o = opts_last(1);
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT,
                         "m.csv: line 3, column 2 ('b'): missing value '' (pass an impute option");
    o.impute = MLCL_IMPUTE_MEAN;
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    const float *x = mlcl_dataset_features(ds);
    ck_assert_float_eq(x[3], 5.0f); /* mean of 2 and 8 */
    ck_assert_float_eq(x[5], 5.0f);
    ck_assert_float_eq(x[4], 5.0f); /* a present value is kept */
    mlcl_dataset_free(ds);
    o.impute = MLCL_IMPUTE_ZERO;
    ck_assert_ok(mlcl_dataset_load_csv(&ds, p, &o));
    x = mlcl_dataset_features(ds);
    ck_assert_float_eq(x[3], 0.0f);
    ck_assert_float_eq(x[5], 0.0f);
    ck_assert_float_eq(x[7], 8.0f);
    mlcl_dataset_free(ds);
    /* labels are never imputed */
    p = spits("m2.csv", "a,y\n1,1\n2,?\n");
    o.impute = MLCL_IMPUTE_MEAN;
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "line 3, column 2 ('y'): missing label value");
    /* a column with no value at all */
    p = spits("m3.csv", "a,b,y\n1,,1\n2,NaN,0\n");
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "column 2 ('b') has no value to take the mean of");
    o.impute = 7;
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EINVAL, "impute");
}
END_TEST

START_TEST(bad_files)
{
    mlcl_dataset *ds = NULL;
    mlcl_csv_options o = opts_last(1);
    struct { const char *text; size_t len; const char *msg; } cases[] = {
        { "a,y\n1,1\n2\n", 0, "line 3: 1 fields, but the header has 2 columns" },
        { "a,y\n1,1\n2,1,3\n", 0, "line 3: 3 fields, but the header has 2 columns" },
        { "a,y\n\"1,1\n", 0, "line 2, column 1 ('a'): unterminated quoted field" },
        { "a,y\n\"1\"x,1\n", 0, "line 2, column 1 ('a'): text after a closing quote" },
        { "a,y\n1,2\n", 0, "line 2, column 2 ('y'): label value '2' is not 0 or 1" },
        { "a,y\n1,yes\n", 0, "label value 'yes' is not 0 or 1" },
        { "a,y\nabc,1\n", 0, "line 2, column 1 ('a'): 'abc' is not a number" },
        { "a,y\ninf,1\n", 0, "'inf' is not a finite float" },
        { "a,y\n1e39,1\n", 0, "'1e39' is not a finite float" },
        { "a,y\n", 0, "no data rows after the header" },
        { "", 0, "empty file (a header line is needed)" },
        { "a,y\n1,1\n2,0\x00,1\n", 15, "line 3, column 2 ('y'): NUL byte in the data" },
        { "a,y\n1,\"1\x00\"\n", 12, "line 2, column 2 ('y'): NUL byte in the data" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t len = cases[k].len ? cases[k].len : strlen(cases[k].text);
        const char *p = spit("bad.csv", cases[k].text, len);
        mlcl_clear_error();
        int rc = mlcl_dataset_load_csv(&ds, p, &o);
        ck_assert_msg(rc == MLCL_EFORMAT, "case %zu: rc %d (%s)", k, rc, mlcl_last_error());
        ck_assert_msg(strstr(mlcl_last_error(), cases[k].msg) && strstr(mlcl_last_error(), "bad.csv"),
                      "case %zu: message '%s' lacks '%s'", k, mlcl_last_error(), cases[k].msg);
        ck_assert_ptr_null(ds);
    }
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, tmp("absent.csv"), &o), MLCL_EIO, "absent.csv");
    /* a record longer than the cap: an error, not an unbounded buffer */
    size_t big = (size_t)MLCL_CSV_MAX_RECORD + 100;
    char *buf = malloc(big + 16);
    memcpy(buf, "a,y\n", 4);
    memset(buf + 4, '1', big);
    memcpy(buf + 4 + big, ",1\n", 3);
    const char *p = spit("long.csv", buf, big + 7);
    free(buf);
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "line 2: record longer than");
    /* a truncated gzip file */
    const char *gz = tmp("t.csv.gz");
    gzFile f = gzopen(gz, "wb");
    for (int i = 0; i < 2000; i++) gzprintf(f, "%s%d,%d\n", i ? "" : "a,y\n", i, i & 1);
    gzclose(f);
    FILE *ff = fopen(gz, "rb");
    char zb[65536];
    size_t zl = fread(zb, 1, sizeof zb, ff);
    fclose(ff);
    p = spit("t2.csv.gz", zb, zl / 2);
    ck_assert_status_msg(mlcl_dataset_load_csv(&ds, p, &o), MLCL_EFORMAT, "corrupt or truncated gzip data");
}
END_TEST

START_TEST(guess_format)
{
    struct { const char *name, *text; int want; } cases[] = {
        { "a.csv", "x,y\n1,0\n", MLCL_FORMAT_CSV },
        { "a.tsv", "path\tcat\n1.jpg\t0\n", MLCL_FORMAT_IMAGE_CSV },
        { "a.txt", "age,height,label\n1,2,0\n", MLCL_FORMAT_CSV },
        { "b.txt", "\"path\",labels\nx.jpg,cat\n", MLCL_FORMAT_IMAGE_CSV },
        { "c.txt", "0.0937,0.5,1\n", MLCL_FORMAT_CSV_NOHEADER },     /* the LIBSVM-error example */
        { "c2.csv", "1,2.5e3\t,0\n", MLCL_FORMAT_CSV_NOHEADER },
        { "c3.txt", "1,0,1\n", MLCL_FORMAT_UNKNOWN },                /* a LIBSVM label list? left to LIBSVM */
        { "d.txt", "0,3 1:0.5 7:0.25\n", MLCL_FORMAT_UNKNOWN },      /* LIBSVM */
        { "e.txt", "100 20 5\n0 1:0.5\n", MLCL_FORMAT_UNKNOWN },     /* XC header */
        { "f.txt", "% comment\n@relation x\n", MLCL_FORMAT_ARFF },
        { "g.dat", "{\"images\": []}", MLCL_FORMAT_COCO },
        { "h.json", "", MLCL_FORMAT_COCO },
        { "i.arff.gz", "", MLCL_FORMAT_ARFF },
        { "j.npz", "", MLCL_FORMAT_NPY },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        mlcl_data_format fmt = (mlcl_data_format)-1;
        ck_assert_ok(mlcl_data_guess_format(&fmt, spits(cases[k].name, cases[k].text)));
        ck_assert_msg((int)fmt == (int)cases[k].want, "%s: %d, expected %d", cases[k].name, (int)fmt, cases[k].want);
    }
    char voc[600];
    snprintf(voc, sizeof voc, "%s/VOC/ImageSets/Main", tmpdir);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", voc);
    ck_assert_int_eq(system(cmd), 0);
    mlcl_data_format fmt;
    ck_assert_ok(mlcl_data_guess_format(&fmt, tmp("VOC")));
    ck_assert_int_eq(fmt, MLCL_FORMAT_VOC);
    ck_assert_ok(mlcl_data_guess_format(&fmt, tmpdir));
    ck_assert_int_eq(fmt, MLCL_FORMAT_UNKNOWN);
    ck_assert_status_msg(mlcl_data_guess_format(&fmt, tmp("nope")), MLCL_EIO, "nope");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("csv");
    TCase *t = tcase_create("csv");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, yeast_bit_identical);
    tcase_add_test(t, quoting_rfc4180);
    tcase_add_test(t, tsv_and_delimiters);
    tcase_add_test(t, no_header);
    tcase_add_test(t, label_choice);
    tcase_add_test(t, missing_values);
    tcase_add_test(t, bad_files);
    tcase_add_test(t, guess_format);
    suite_add_tcase(s, t);
    return run_suite(s);
}
