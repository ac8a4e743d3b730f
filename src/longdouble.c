/* INCRBYFLOAT and HINCRBYFLOAT arithmetic in the platform's long double, as Redis does
 * it: parse both operands with strtold, add, and print with "%.17Lf" minus trailing
 * zeros. Rust has no long double, and the results clients see (0.1 + 0.2 = "0.3") depend
 * on its extra precision, so this one function is C. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

static int parse_long_double(const char *s, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *end;
    long double value;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    value = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        isnan(value))
        return 0;
    *out = value;
    return 1;
}

/* Returns the length of the text of a + b written to out; -1 if a is not a float,
 * -2 if b is not a float, -3 if the sum is NaN or infinite, -4 if out is too small. */
long roost_long_double_add(const char *a, size_t alen, const char *b, size_t blen,
                           char *out, size_t outlen) {
    long double x, y, sum;
    int len;
    if (!parse_long_double(a, alen, &x)) return -1;
    if (!parse_long_double(b, blen, &y)) return -2;
    sum = x + y;
    if (isnan(sum) || isinf(sum)) return -3;
    len = snprintf(out, outlen, "%.17Lf", sum);
    if (len < 0 || (size_t)len + 1 > outlen) return -4;
    if (strchr(out, '.') != NULL) {
        while (out[len - 1] == '0') len--;
        if (out[len - 1] == '.') len--;
    }
    if (len == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        len = 1;
    }
    return len;
}

/* A blocking command's timeout in milliseconds as Redis 7.0 computes it: the seconds read
 * with strtold, times 1000, rounded up (0.0001 is 1 ms; -0.0001 is 0, no timeout). A
 * value a long long cannot hold becomes LLONG_MIN, as the x86 conversion makes it (Redis
 * then answers "timeout is negative"). Returns 0 if the text is not a float. */
int roost_timeout_ms(const char *s, size_t len, long long *out) {
    long double v;
    if (!parse_long_double(s, len, &v)) return 0;
    v = ceill(v * 1000.0L);
    if (!(v >= -9223372036854775808.0L && v < 9223372036854775808.0L))
        *out = (-9223372036854775807LL - 1);
    else
        *out = (long long)v;
    return 1;
}
