# Included at the end of llama.cpp's own project() call (CMAKE_PROJECT_llama.cpp_INCLUDE, set
# by scripts/install-llama-cpp.sh). llama-cpp-python forces LLAMA_BUILD_COMMON on, but its
# Python code loads only libllama and the ggml libraries: the "common" helper library (chat
# parsers, jinja, an HTTP client) is almost half of the compile and never used. Setting the
# cache entry here, after llama-cpp-python's own FORCE and before llama.cpp reads the option,
# leaves it out.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
