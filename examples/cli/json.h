/*
 * json.h: the JSON files of mlcl-train and mlcl-predict, built as jansson
 * documents (jansson escapes every string and formats every number) and
 * written with a fixed line layout. Program-local, not part of the library.
 */
#ifndef MLCL_CLI_JSON_H
#define MLCL_CLI_JSON_H

#include <stdio.h>
#include <jansson.h>

/* significant digits of a real: a double round-trips with 17, a float with 9 */
#define CLI_JSON_DOUBLE 17
#define CLI_JSON_FLOAT 9

/* The length of the valid UTF-8 sequence at p (0: not one: a stray byte, an
 * overlong form, a surrogate, beyond U+10FFFF). */
int utf8_len(const unsigned char *p);

/* A JSON string of s (NULL: null) with every byte that is not part of valid
 * UTF-8 replaced by U+FFFD; jansson escapes quotes, backslashes and control
 * characters when it writes it. NULL when out of memory. */
json_t *cli_json_text(const char *s);

/* A JSON number for a finite double, null for NaN or an infinity. */
json_t *cli_json_real(double v);

/* Set obj[key] = value, taking the reference; returns -1 (and drops value)
 * when value is NULL (out of memory) or the set fails. */
int cli_json_set(json_t *obj, const char *key, json_t *value);

/* Write the object doc to f: the members whose value is a number, a string,
 * a boolean or null share a line; a member holding an object or an array
 * starts a new line; an array of objects or arrays has one element per line.
 * Every key and value is encoded by jansson (json_dumpf), reals with
 * `precision` significant digits. 0, or -1 when a write failed. */
int cli_json_write(FILE *f, const json_t *doc, int precision);

#endif
