#pragma once
/* stepdownd invoked as "gosu": gosu 1.14's command line and behaviour. */
int gosu_main(int argc, char **argv);
