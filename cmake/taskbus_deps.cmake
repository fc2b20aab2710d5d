# taskbus_deps.cmake: the pkg-config modules every taskbus binary links (shared/ and api/
# use them), in one list for the main build (CMakeLists.txt) and the fuzz build
# (tests/fuzz/CMakeLists.txt), so a library added to shared/ cannot be missing from one
# of them. compose/lib/packages.sh installs their -dev packages.
set(TASKBUS_PKG_MODULES
  libulfius libmicrohttpd jansson libjwt hiredis rdkafka libpq libsodium libcurl libical)
