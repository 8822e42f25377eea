/* Math problems with worked solutions. Every problem reads
 *   Problem: <statement>
 *   Solution: <how>
 *   <one line per step>
 *   Answer: <result>
 * and comes from one of the templates below, with numbers drawn from a counter-based random
 * stream keyed by (seed, index), so any problem can be regenerated on its own. */
#include "train/data/mathgen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "backends/pm_rng.h"

typedef struct {
    char *buf;
    size_t cap, len;
} text;

typedef struct {
    uint32_t key, n;
} rng;

/* Appends to the text, truncating (never overflowing) when the buffer is full. */
static void say(text *o, const char *fmt, ...) {
    if (o->len + 1 >= o->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

/* Uniform in [lo, hi]. */
static int uniform(rng *r, int lo, int hi) {
    return lo + (int)(pm_hash32(r->key ^ pm_hash32(++r->n)) % (uint32_t)(hi - lo + 1));
}

static int with_digits(rng *r, int digits) {
    int lo = 1;
    for (int i = 1; i < digits; i++) lo *= 10;
    return uniform(r, lo, 10 * lo - 1);
}

static int gcd(int a, int b) {
    a = abs(a);
    b = abs(b);
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A number as it appears inside an expression: negative ones in parentheses. */
static const char *num(char buf[16], int v) {
    snprintf(buf, 16, v < 0 ? "(%d)" : "%d", v);
    return buf;
}

/* A coefficient times a variable, as written: x, -x, 3x. */
static const char *term(char buf[16], int coef, char var) {
    if (coef == 1) snprintf(buf, 16, "%c", var);
    else if (coef == -1) snprintf(buf, 16, "-%c", var);
    else snprintf(buf, 16, "%d%c", coef, var);
    return buf;
}

/* " + 7" or " - 7": a signed term that follows another. */
static void say_signed(text *o, int v) { say(o, v < 0 ? " - %d" : " + %d", abs(v)); }

static const char *const column[] = {"Ones", "Tens", "Hundreds", "Thousands", "Ten thousands", "Hundred thousands"};

static void addition(text *o, rng *r) {
    int a = with_digits(r, uniform(r, 3, 6)), b = with_digits(r, uniform(r, 3, 6)), carry = 0;
    say(o, "Problem: Compute %d + %d.\nSolution: Add column by column from the right, carrying 1 whenever a "
           "column adds up to 10 or more.\n", a, b);
    for (int col = 0, x = a, y = b; x || y; col++, x /= 10, y /= 10) {
        int sum = x % 10 + y % 10 + carry;
        say(o, "%s: %d + %d%s = %d. Write %d", column[col], x % 10, y % 10, carry ? " + 1 (carried)" : "", sum,
            sum % 10);
        say(o, sum >= 10 ? ", carry 1.\n" : ".\n");
        carry = sum >= 10;
    }
    if (carry) say(o, "Write the last carry, 1, in front.\n");
    say(o, "Answer: %d\n", a + b);
}

static void subtraction(text *o, rng *r) {
    int a = with_digits(r, uniform(r, 3, 6)), b = with_digits(r, uniform(r, 2, 6)), borrow = 0;
    if (a < b) {
        int t = a;
        a = b;
        b = t;
    }
    say(o, "Problem: Compute %d - %d.\nSolution: Subtract column by column from the right; when the top digit "
           "is too small, borrow 10 from the next column.\n", a, b);
    for (int col = 0, x = a, y = b; x; col++, x /= 10, y /= 10) {
        int top = x % 10 - borrow, low = y % 10;
        say(o, "%s: ", column[col]);
        if (borrow) say(o, "%d - 1 (lent) = %d. ", x % 10, top);
        if (top < low)
            say(o, "%d is less than %d, so borrow 10: %d - %d = %d.\n", top, low, top + 10, low, top + 10 - low);
        else say(o, "%d - %d = %d.\n", top, low, top - low);
        borrow = top < low;
    }
    say(o, "Answer: %d\n", a - b);
}

static void multiplication(text *o, rng *r) {
    int a = with_digits(r, uniform(r, 2, 4)), b = with_digits(r, uniform(r, 2, 3)), n = 0;
    long long part[3] = {0}, total = 0;
    say(o, "Problem: Compute %d * %d.\nSolution: Multiply %d by each digit of %d in its place, then add the "
           "partial products.\n", a, b, a, b);
    for (int y = b, place = 1; y; y /= 10, place *= 10) {
        part[n] = (long long)a * (y % 10) * place;
        say(o, "%d * %d = %lld.\n", a, y % 10 * place, part[n]);
        total += part[n++];
    }
    say(o, "Add the partial products: %lld", part[0]);
    for (int i = 1; i < n; i++) say(o, " + %lld", part[i]);
    say(o, " = %lld.\nAnswer: %lld\n", total, total);
}

static void division(text *o, rng *r) {
    int n = with_digits(r, uniform(r, 3, 5)), d = uniform(r, 3, 99), cur = 0, i = 0;
    char digits[16];
    int len = snprintf(digits, sizeof digits, "%d", n);
    say(o, "Problem: Divide %d by %d. Give the quotient and the remainder.\nSolution: Long division, one digit "
           "at a time.\n", n, d);
    do cur = cur * 10 + (digits[i++] - '0');
    while (cur < d && i < len);
    say(o, "Start with %d, the first part of %d that is at least %d.\n", cur, n, d);
    for (;;) {
        int q = cur / d;
        say(o, "%d goes into %d %d time%s: %d * %d = %d, and %d - %d = %d.\n", d, cur, q, q == 1 ? "" : "s", d, q,
            q * d, cur, q * d, cur - q * d);
        cur -= q * d;
        if (i == len) break;
        int next = digits[i++] - '0';
        say(o, "Bring down the %d: %d.\n", next, cur * 10 + next);
        cur = cur * 10 + next;
    }
    say(o, "The quotient is %d and %d is left over.\nCheck: %d * %d + %d = %d.\nAnswer: %d remainder %d\n", n / d,
        n % d, d, n / d, n % d, n, n / d, n % d);
}

static const char *const goods[] = {"bicycle", "jacket", "lamp", "backpack", "chair", "watch", "guitar", "tent"};

static void percentage(text *o, rng *r) {
    int p = 5 * uniform(r, 1, 19), whole = 20 * uniform(r, 1, 50), part = whole * p / 100;
    switch (uniform(r, 0, 2)) {
    case 0:
        say(o, "Problem: What is %d%% of %d?\nSolution: %d%% means %d out of every 100.\n", p, whole, p, p);
        say(o, "%d * %d = %d.\n%d / 100 = %d.\nAnswer: %d\n", whole, p, whole * p, whole * p, part, part);
        break;
    case 1: {
        int up = uniform(r, 0, 1), now = up ? whole + part : whole - part;
        const char *item = goods[uniform(r, 0, 7)];
        say(o, "Problem: A %s costs $%d. Its price %s by %d%%. What is the new price?\nSolution: Find the "
               "change, then %s it.\n", item, whole, up ? "goes up" : "is cut", p, up ? "add" : "subtract");
        say(o, "%d%% of $%d is %d * %d / 100 = $%d.\n", p, whole, whole, p, part);
        say(o, "The new price is $%d %c $%d = $%d.\nAnswer: $%d\n", whole, up ? '+' : '-', part, now, now);
        break;
    }
    default:
        say(o, "Problem: What percent of %d is %d?\nSolution: Divide the part by the whole and multiply by 100.\n",
            whole, part);
        say(o, "%d / %d = %d.%02d.\n%d.%02d * 100 = %d.\nAnswer: %d%%\n", part, whole, p / 100, p % 100, p / 100,
            p % 100, p, p);
    }
}

static void linear_equation(text *o, rng *r) {
    int a = uniform(r, 2, 12), x = uniform(r, -15, 15), b = uniform(r, 1, 40);
    char s1[16], s2[16];
    if (uniform(r, 0, 3) == 0) a = -a;
    if (uniform(r, 0, 1)) b = -b;
    int c = a * x + b;
    if (a > 0 && uniform(r, 0, 2) == 0) {
        say(o, "Problem: A number is multiplied by %d, then %d is %s. The result is %d. What is the number?\n"
               "Solution: Call the number x. Then ", a, abs(b), b > 0 ? "added" : "subtracted", c);
    } else {
        say(o, "Problem: Solve for x: %s", term(s1, a, 'x'));
        say_signed(o, b);
        say(o, " = %d.\nSolution: Isolate x one step at a time. Start from ", c);
    }
    say(o, "%s", term(s1, a, 'x'));
    say_signed(o, b);
    say(o, " = %d.\n", c);
    say(o, "%s %d %s both sides: %s = %d %c %d = %d.\n", b > 0 ? "Subtract" : "Add", abs(b), b > 0 ? "from" : "to",
        term(s1, a, 'x'), c, b > 0 ? '-' : '+', abs(b), c - b);
    say(o, "Divide both sides by %d: x = %d / %s = %d.\n", a, c - b, num(s2, a), x);
    say(o, "Check: %d * %s", a, num(s2, x));
    say_signed(o, b);
    say(o, " = %d.\nAnswer: x = %d\n", c, x);
}

/* "ax + by = c" with the signs and unit coefficients written as people write them. */
static void say_equation(text *o, int a, int b, int c) {
    char sa[16], sb[16];
    say(o, "%s %c %s = %d", term(sa, a, 'x'), b < 0 ? '-' : '+', term(sb, abs(b), 'y'), c);
}

static int nonzero(rng *r) { return uniform(r, 1, 9) * (uniform(r, 0, 2) == 0 ? -1 : 1); }

static void linear_system(text *o, rng *r) {
    int x = uniform(r, -9, 9), y = uniform(r, -9, 9), a1, b1, a2, b2;
    do {
        a1 = nonzero(r), b1 = nonzero(r), a2 = nonzero(r), b2 = nonzero(r);
    } while (a1 * b2 - a2 * b1 == 0);
    int c1 = a1 * x + b1 * y, c2 = a2 * x + b2 * y, k = a2 * b1 - a1 * b2, rhs = a2 * c1 - a1 * c2;
    char s1[16], s2[16], s3[16];
    say(o, "Problem: Solve the system of equations:\n");
    say_equation(o, a1, b1, c1);
    say(o, "\n");
    say_equation(o, a2, b2, c2);
    say(o, "\nSolution: Eliminate x, find y, then substitute back to find x.\n");
    say(o, "Multiply the first equation by %d: ", a2);
    say_equation(o, a1 * a2, b1 * a2, c1 * a2);
    say(o, ".\nMultiply the second equation by %d: ", a1);
    say_equation(o, a1 * a2, b2 * a1, c2 * a1);
    say(o, ".\nSubtract the second from the first: (%d - %s)y = %d - %s, so %s = %d.\n", b1 * a2, num(s1, b2 * a1),
        c1 * a2, num(s2, c2 * a1), term(s3, k, 'y'), rhs);
    say(o, "Divide by %d: y = %d.\n", k, y);
    say(o, "Substitute y = %d into the first equation: %s + %s * %s = %d, so %s", y, term(s1, a1, 'x'),
        num(s3, b1), num(s2, y), c1, term(s1, a1, 'x'));
    say_signed(o, b1 * y);
    say(o, " = %d.\nThen %s = %d - %s = %d, and x = %d / %s = %d.\n", c1, term(s1, a1, 'x'), c1, num(s2, b1 * y),
        a1 * x, a1 * x, num(s3, a1), x);
    say(o, "Check with the second equation: %d * %s + %s * %s = %d.\nAnswer: x = %d, y = %d\n", a2, num(s1, x),
        num(s3, b2), num(s2, y), c2, x, y);
}

static void fractions(text *o, rng *r) {
    int b = uniform(r, 2, 12), d = uniform(r, 2, 12), a = uniform(r, 1, b - 1), c = uniform(r, 1, d - 1);
    int minus = uniform(r, 0, 1);
    if (minus && a * d < c * b) {
        int t = a;
        a = c, c = t, t = b, b = d, d = t;
    }
    char op = minus ? '-' : '+';
    int l = b / gcd(b, d) * d, A = a * (l / b), C = c * (l / d), n = minus ? A - C : A + C, g = gcd(n, l);
    say(o, "Problem: Compute %d/%d %c %d/%d. Give the answer in lowest terms.\nSolution: Write both fractions "
           "over a common denominator, then %s the numerators.\n", a, b, op, c, d, minus ? "subtract" : "add");
    if (b == d) say(o, "Both denominators are already %d.\n", l);
    else say(o, "The least common denominator of %d and %d is %d.\n", b, d, l);
    if (b != l) say(o, "%d/%d = %d/%d.\n", a, b, A, l);
    if (d != l) say(o, "%d/%d = %d/%d.\n", c, d, C, l);
    say(o, "%d/%d %c %d/%d = %d/%d.\n", A, l, op, C, l, n, l);
    if (n == 0) {
        say(o, "Answer: 0\n");
        return;
    }
    if (g > 1) say(o, "Divide the top and the bottom by %d: %d/%d = %d/%d.\n", g, n, l, n / g, l / g);
    else say(o, "%d/%d is already in lowest terms.\n", n, l);
    n /= g, l /= g;
    if (l == 1) say(o, "Answer: %d\n", n);
    else if (n > l && n % l) say(o, "As a mixed number that is %d %d/%d.\nAnswer: %d/%d\n", n / l, n % l, l, n, l);
    else say(o, "Answer: %d/%d\n", n, l);
}

typedef struct {
    const char *name, *he, *He;
} person;

static const person people[] = {
    {"Maria", "she", "She"}, {"James", "he", "He"},   {"Aisha", "she", "She"}, {"Tom", "he", "He"},
    {"Lena", "she", "She"},  {"Ravi", "he", "He"},    {"Sofia", "she", "She"}, {"Omar", "he", "He"},
    {"Yuki", "she", "She"},  {"Carlos", "he", "He"}, {"Emma", "she", "She"},  {"Noah", "he", "He"},
};
enum { n_people = sizeof people / sizeof people[0] };
static const char *const things[] = {"pencils", "stickers", "marbles", "apples", "cards", "cookies", "stamps", "beads"};
static const char *const vehicles[] = {"train", "car", "bus", "boat", "truck", "ferry"};

static void word_problem(text *o, rng *r) {
    const person *p = &people[uniform(r, 0, n_people - 1)], *q = &people[uniform(r, 0, n_people - 1)];
    const char *thing = things[uniform(r, 0, 7)];
    switch (uniform(r, 0, 3)) {
    case 0: {
        int packs = uniform(r, 2, 9), each = uniform(r, 6, 30), total = packs * each, given = uniform(r, 1, total);
        int more = uniform(r, 2, 25), left = total - given;
        say(o, "Problem: %s buys %d packs of %s. Each pack holds %d %s. %s gives %d %s to %s, then buys %d more. "
               "How many %s does %s have now?\nSolution: Count what %s buys, then follow each change.\n", p->name,
            packs, thing, each, thing, p->He, given, thing, q->name, more, thing, p->name, p->he);
        say(o, "%d packs * %d %s = %d %s.\nAfter giving away %d: %d - %d = %d.\nAfter buying %d more: %d + %d = %d.\n"
               "Answer: %d\n", packs, each, thing, total, thing, given, total, given, left, more, left, more,
            left + more, left + more);
        break;
    }
    case 1: {
        int wage = uniform(r, 9, 40), hours = uniform(r, 5, 40), weeks = uniform(r, 2, 8);
        int earned = wage * hours * weeks, spent = uniform(r, 1, earned - 1);
        say(o, "Problem: %s earns $%d per hour and works %d hours a week. After %d weeks, %s spends $%d. How much "
               "money does %s have left?\nSolution: Find the weekly pay, then the total, then subtract the "
               "spending.\n", p->name, wage, hours, weeks, p->he, spent, p->he);
        say(o, "Each week: %d * %d = $%d.\nIn %d weeks: %d * %d = $%d.\nAfter spending: %d - %d = $%d.\nAnswer: $%d\n",
            wage, hours, wage * hours, weeks, wage * hours, weeks, earned, earned, spent, earned - spent,
            earned - spent);
        break;
    }
    case 2: {
        static const char *const quarter[] = {"1/4", "1/2", "3/4"};
        int speed = 4 * uniform(r, 8, 30), hours = uniform(r, 1, 6), quarters = uniform(r, 1, 3);
        int km_hours = speed * hours, km_minutes = speed * quarters / 4;
        say(o, "Problem: A %s travels at %d km per hour. How far does it go in %d hour%s and %d minutes?\n"
               "Solution: Split the time into whole hours and the minutes.\n", vehicles[uniform(r, 0, 5)], speed,
            hours, hours == 1 ? "" : "s", 15 * quarters);
        say(o, "In %d hour%s: %d * %d = %d km.\n%d minutes is %s of an hour: %d * %s = %d km.\nTotal: %d + %d = %d "
               "km.\nAnswer: %d km\n", hours, hours == 1 ? "" : "s", speed, hours, km_hours, 15 * quarters,
            quarter[quarters - 1], speed, quarter[quarters - 1], km_minutes, km_hours, km_minutes,
            km_hours + km_minutes, km_hours + km_minutes);
        break;
    }
    default: {
        int friends = uniform(r, 3, 12), have = uniform(r, friends + 1, 200);
        say(o, "Problem: %s has %d %s and shares them equally among %d friends, keeping the ones left over. How "
               "many does each friend get, and how many does %s keep?\nSolution: Divide and keep the remainder.\n",
            p->name, have, thing, friends, p->he);
        say(o, "%d / %d = %d, since %d * %d = %d.\n%d - %d = %d left over.\nAnswer: %d each, %d kept\n", have,
            friends, have / friends, friends, have / friends, have / friends * friends, have,
            have / friends * friends, have % friends, have / friends, have % friends);
    }
    }
}

typedef void (*template_fn)(text *, rng *);
static const template_fn templates[] = {addition,        subtraction,   multiplication, division,    percentage,
                                        linear_equation, linear_system, fractions,      word_problem};
enum { n_templates = sizeof templates / sizeof templates[0] };

size_t pm_mathgen_problem(uint64_t seed, uint64_t index, char *out, size_t cap) {
    if (!out || cap == 0) return 0;
    uint32_t k = pm_hash32((uint32_t)seed ^ 0x5bd1e995u);
    k = pm_hash32(k ^ (uint32_t)(seed >> 32));
    k = pm_hash32(k ^ pm_hash32((uint32_t)index + 0x9e3779b9u));
    rng r = {pm_hash32(k ^ (uint32_t)(index >> 32)), 0};
    text o = {out, cap, 0};
    out[0] = '\0';
    templates[uniform(&r, 0, n_templates - 1)](&o, &r);
    return o.len;
}
