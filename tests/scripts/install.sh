#!/usr/bin/env bash
# install.sh: `make install DESTDIR=...` lays out what a Debian-style
# install needs (both units, the config and its sample), a second install
# over an edited config leaves it untouched, uninstall keeps it (and
# removes everything of an unedited install), and the man pages render
# without a warning. TAP output.
#
# It configures a private build with --prefix=/usr --sysconfdir=/etc
# --localstatedir=/var (the layout of a distribution package) in a
# temporary directory, so the build under test is left as it is (from a
# copy of the sources when they are configured in place).
# Skipped under VSAMPD_IT_PROFILE=skip (distcheck) and asan (the same
# files are checked by the main stage).
set -u

src=${VSAMPD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
n=0
failed=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

case ${VSAMPD_IT_PROFILE:-full} in
skip | asan)
	echo "1..1"
	echo "ok 1 - install layout # SKIP VSAMPD_IT_PROFILE=${VSAMPD_IT_PROFILE}"
	exit 0
	;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vsampd-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "1..20"

# A source tree configured in place (./configure && make check, the
# README's build by hand) refuses a second, separate build directory:
# then build a copy of the sources instead, in place.
if [ -f "$src/config.status" ]; then
	mkdir -p "$tmp/src" &&
		tar -C "$src" --exclude=./.git --exclude='./_build*' \
			--exclude=./_ci --exclude=./demo-out -cf - . |
		tar -C "$tmp/src" -xf - &&
		(cd "$tmp/src" && make -s distclean >/dev/null 2>&1; true)
	cfgdir=$tmp/src
	configure=./configure
else
	mkdir -p "$tmp/build"
	cfgdir=$tmp/build
	configure=$src/configure
fi
(cd "$cfgdir" &&
	"$configure" -q --prefix=/usr --sysconfdir=/etc \
		--localstatedir=/var >"$tmp/configure.log" 2>&1 &&
	make -s -j"$(nproc)" >"$tmp/make.log" 2>&1 &&
	make -s install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1)
rc=$?
ok $rc "configure --prefix=/usr --sysconfdir=/etc, make, make install DESTDIR"
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp"/*.log | tail -n 30

root=$tmp/root
for f in usr/sbin/vsampd usr/bin/vsampctl etc/vsampd/vsampd.conf \
	etc/vsampd/vsampd.conf.sample \
	usr/lib/systemd/system/vsampd.service \
	usr/lib/systemd/system/vsampd@.service \
	usr/share/man/man8/vsampd.8 usr/share/man/man5/vsampd.conf.5 \
	usr/share/man/man1/vsampctl.1; do
	test -f "$root/$f"
	ok $? "/$f installed"
done

grep -qx 'ExecStart=/usr/sbin/vsampd -f /etc/vsampd/vsampd.conf' \
	"$root/usr/lib/systemd/system/vsampd.service"
ok $? "the installed unit runs /usr/sbin/vsampd on /etc/vsampd/vsampd.conf"

"$root/usr/sbin/vsampd" -n -f "$root/etc/vsampd/vsampd.conf" 2>&1 |
	grep -q '^configuration OK$'
ok $? "the installed sample config passes vsampd -n"

t=$root/usr/lib/systemd/system/vsampd@.service
grep -qx 'ExecStart=/usr/sbin/vsampd -f /etc/vsampd/%i.conf' "$t" &&
	grep -qx 'StateDirectory=vsampd/%i' "$t"
ok $? "the template unit runs each instance on /etc/vsampd/INSTANCE.conf with a state directory of its own"

# man(1) prints groff's warnings on stderr; a clean page prints none.
if command -v man >/dev/null 2>&1; then
	out=$(for p in usr/share/man/man8/vsampd.8 \
		usr/share/man/man5/vsampd.conf.5 usr/share/man/man1/vsampctl.1; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l \
			"$root/$p" 2>&1 >/dev/null
	done)
	[ -z "$out" ]
	ok $? "man -l renders the three pages without warnings"
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
else
	n=$((n + 1))
	echo "ok $n - man pages render # SKIP no man(1)"
fi
# A second install over an edited config leaves it as it is, and puts
# the new sample beside it.
conf=$root/etc/vsampd/vsampd.conf
printf '\n# edited by the operator\nworker = { max_inflight = 64; };\n' >>"$conf"
cp "$conf" "$tmp/edited.conf"
(cd "$cfgdir" && make -s install DESTDIR="$tmp/root" >"$tmp/install2.log" 2>&1)
ok $? "make install again over an edited config"
cmp -s "$conf" "$tmp/edited.conf"
ok $? "the edited /etc/vsampd/vsampd.conf is untouched by the second install"
cmp -s "$root/etc/vsampd/vsampd.conf.sample" "$src/conf/vsampd.conf"
ok $? "the sample is installed beside it as vsampd.conf.sample"
grep -q 'keeping .*vsampd.conf' "$tmp/install2.log"
ok $? "make install says it kept the config"

# Uninstall keeps the edited config and removes the rest of ours.
(cd "$cfgdir" && make -s uninstall DESTDIR="$tmp/root" >"$tmp/uninstall.log" 2>&1) &&
	cmp -s "$conf" "$tmp/edited.conf" &&
	[ ! -e "$root/etc/vsampd/vsampd.conf.sample" ] &&
	[ ! -e "$root/usr/sbin/vsampd" ]
ok $? "make uninstall keeps the edited config and removes the sample"

# An unedited install uninstalls to nothing (as distcheck wants).
(cd "$cfgdir" && make -s install DESTDIR="$tmp/root2" >/dev/null 2>&1 &&
	make -s uninstall DESTDIR="$tmp/root2" >/dev/null 2>&1)
left=$(find "$tmp/root2" -type f 2>/dev/null)
[ -z "$left" ]
ok $? "install then uninstall of an unedited config leaves no file"
[ -n "$left" ] && printf '%s\n' "$left" | sed 's/^/# /'

[ $failed -eq 0 ]
