// The floor of bulk-inserting N float32 vectors of D dimensions into SQLite, in the
// database bench_knn.py uses (:memory:, default page size 4096, journal_mode=memory),
// one transaction, 1024 vectors per BLOB (vec0's default chunk).
//
//   gcc -O2 -o /tmp/bulk_floor benches/bulk_floor.c -lsqlite3   (libsqlite3-dev)
//   /tmp/bulk_floor 100000 768 MODE
//
// MODE: memcpy    copy the array into freshly malloc'd memory (no SQLite at all)
//       bind      one INSERT per chunk, the bytes bound SQLITE_STATIC (no copy)
//       zeroblob  INSERT zeroblob(n) then sqlite3_blob_write (what vec0 did before)
//       bindrows  bind + one INSERT per row into rows(rowid, id TEXT UNIQUE, slot)
//       bindrows2 same, the unique index partial (WHERE id IS NOT NULL)
//       bindrows3 same, no id column
//       multi1    bind + rows(rowid, id TEXT UNIQUE, slot) 256 rows per INSERT
//       multi3    bind + rows(rowid, slot) 256 rows per INSERT (vec0 format 2's case)
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void ck(int rc, sqlite3*db, const char*w){ if(rc!=SQLITE_OK&&rc!=SQLITE_DONE&&rc!=SQLITE_ROW){fprintf(stderr,"%s: %s\n",w,sqlite3_errmsg(db));exit(1);} }
int main(int argc,char**argv){
  long n=atol(argv[1]); int d=atoi(argv[2]); const char*mode=argv[3]; int cs=1024;
  size_t per=(size_t)d*4, chunk=(size_t)cs*per; long nch=(n+cs-1)/cs;
  float*X=malloc(n*per); for(long i=0;i<n*d;i++) X[i]=(float)(i%1000)*0.001f;
  sqlite3*db; sqlite3_open(":memory:",&db);
  ck(sqlite3_exec(db,"create table v(rowid integer primary key, vectors blob not null);"
     "create table r(rowid integer primary key, id text unique, slot integer not null);"
     "create table r2(rowid integer primary key, id text, slot integer not null);"
     "create unique index r2id on r2(id) where id is not null;"
     "create table r3(rowid integer primary key, slot integer not null);",0,0,0),db,"create");
  double t=now();
  ck(sqlite3_exec(db,"begin",0,0,0),db,"begin");
  sqlite3_stmt*s;
  if(!strcmp(mode,"memcpy")){ t=now(); char*buf=malloc(n*per); memcpy(buf,X,n*per); t=now()-t; printf("%d ",buf[n*per/2]); printf("memcpy into fresh malloc: %.3f s\n",t); return 0; }
  if(!strcmp(mode,"bind")||!strcmp(mode,"bindrows")||!strcmp(mode,"bindrows2")||!strcmp(mode,"bindrows3")||!strcmp(mode,"multi3")||!strcmp(mode,"multi1")){
    sqlite3_prepare_v2(db,"insert into v(rowid,vectors) values(?1,?2)",-1,&s,0);
    for(long c=0;c<nch;c++){ size_t have=(c==nch-1)? (n-c*cs)*per:chunk;
      sqlite3_bind_int64(s,1,c+1);
      if(have==chunk) sqlite3_bind_blob(s,2,(char*)X+c*chunk,chunk,SQLITE_STATIC);
      else { char*b=malloc(chunk); memcpy(b,(char*)X+c*chunk,have); memset(b+have,0,chunk-have); sqlite3_bind_blob(s,2,b,chunk,free);} 
      ck(sqlite3_step(s),db,"step"); sqlite3_reset(s);}
    sqlite3_finalize(s);
  } else if(!strcmp(mode,"zeroblob")){
    sqlite3_prepare_v2(db,"insert into v(rowid,vectors) values(?1,zeroblob(?2))",-1,&s,0);
    for(long c=0;c<nch;c++){ size_t have=(c==nch-1)? (n-c*cs)*per:chunk;
      sqlite3_bind_int64(s,1,c+1); sqlite3_bind_int64(s,2,chunk); ck(sqlite3_step(s),db,"step"); sqlite3_reset(s);
      sqlite3_blob*b; ck(sqlite3_blob_open(db,"main","v","vectors",c+1,1,&b),db,"bo");
      ck(sqlite3_blob_write(b,(char*)X+c*chunk,have,0),db,"bw"); sqlite3_blob_close(b);}
    sqlite3_finalize(s);
  }
  double tv=now()-t;
  if(!strcmp(mode,"bindrows")||!strcmp(mode,"bindrows2")){
    const char* tbl = !strcmp(mode,"bindrows")? "r":"r2";
    char sql[200]; snprintf(sql,200,"insert into %s(rowid,id,slot) values(?1,?2,?3)",tbl);
    sqlite3_prepare_v2(db,sql,-1,&s,0);
    for(long i=0;i<n;i++){ sqlite3_bind_int64(s,1,i+1); sqlite3_bind_null(s,2); sqlite3_bind_int64(s,3,i); ck(sqlite3_step(s),db,"r"); sqlite3_reset(s);} 
    sqlite3_finalize(s);
  }
  if(!strcmp(mode,"bindrows3")){
    sqlite3_prepare_v2(db,"insert into r3(rowid,slot) values(?1,?2)",-1,&s,0);
    for(long i=0;i<n;i++){ sqlite3_bind_int64(s,1,i+1); sqlite3_bind_int64(s,2,i); ck(sqlite3_step(s),db,"r"); sqlite3_reset(s);}
    sqlite3_finalize(s);
  }
  if(!strcmp(mode,"multi3")||!strcmp(mode,"multi1")){
    int B=256; char sql[20000]; int o=snprintf(sql,20000,"insert into %s(rowid,slot) values", !strcmp(mode,"multi3")?"r3":"r");
    for(int j=0;j<B;j++) o+=snprintf(sql+o,20000-o,"%s(?%d,?%d)",j?",":"",2*j+1,2*j+2);
    sqlite3_prepare_v2(db,sql,-1,&s,0); long i=0;
    for(;i+B<=n;i+=B){ for(int j=0;j<B;j++){sqlite3_bind_int64(s,2*j+1,i+j+1); sqlite3_bind_int64(s,2*j+2,i+j);} ck(sqlite3_step(s),db,"m"); sqlite3_reset(s);} 
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db,"insert into r3(rowid,slot) values(?1,?2)",-1,&s,0);
    for(;i<n;i++){ sqlite3_bind_int64(s,1,i+1); sqlite3_bind_int64(s,2,i); ck(sqlite3_step(s),db,"r"); sqlite3_reset(s);}
    sqlite3_finalize(s);
  }
  double tr=now()-t-tv;
  ck(sqlite3_exec(db,"commit",0,0,0),db,"commit");
  double tt=now()-t;
  printf("%-9s %ld x %d: vectors %.3f s, rows %.3f s, total %.3f s => %.0f rows/s\n",mode,n,d,tv,tr,tt,n/tt);
  return 0;
}
