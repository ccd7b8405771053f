/**
 * The error catalogue (`src/core/errors/codes.ts`, `docs/errors.md`) in Russian, one sentence per
 * code, for the administrator reading the console. In English the console shows the API's own
 * sentence (the catalogue's English with the details of the case); in Russian it shows this one,
 * followed by the code, and for the codes of {@link RU_WITH_DETAILS} the service's own details
 * after it (which parameter, which character, which record: they are names and numbers, not
 * prose, and would be lost otherwise). A test (`test/unit/console-errors-ru.test.ts`) reads this file as text and
 * checks that every code of the catalogue has a sentence here and that nothing here is not a code:
 * the server build does not compile the console, so a type could not check it.
 */
export const ruErrors: Record<string, string> = {
  CONFIG_INVALID: 'В файле конфигурации есть ошибки.',
  CONFIG_NOT_FOUND: 'Файл конфигурации не найден или не читается.',
  CONFIG_SECRET_UNRESOLVED: 'Не удалось получить секрет, заданный как { env } или { file }.',
  CONNECTION_UNKNOWN: 'Подключение с таким системным именем не настроено.',
  CONNECTION_DISABLED: 'Подключение отключено: включите его, чтобы запустить.',
  PROBE_NOT_CONFIGURED: 'Для проверки пробным письмом у подключения должны быть заданы testRelay и хотя бы один адрес в testRecipients.',
  PROBE_RELAY_FAILED: 'Тестовый почтовый сервер (testRelay) недоступен, отклонил учётные данные, пробное письмо или одного из тестовых получателей.',
  PROBE_NOT_ARRIVED: 'Тестовый сервер принял пробное письмо, но за время ожидания оно не появилось ни в почтовом ящике, ни в архиве.',
  PROBE_NOT_ARCHIVED: 'Пробное письмо дошло до почтового ящика, но за время ожидания не попало в архив.',
  SOURCE_DNS_FAILED: 'Не удалось разрешить имя сервера.',
  SOURCE_CONNECT_REFUSED: 'Сервер отказал в TCP-соединении (на этом порту ничего не слушает).',
  SOURCE_CONNECT_TIMEOUT: 'Соединение не установлено за отведённое время.',
  SOURCE_NETWORK: 'Сетевое соединение не установлено или было прервано.',
  SOURCE_DATA_TIMEOUT: 'Сервер ничего не присылал дольше допустимого времени; соединение разорвано.',
  SOURCE_TLS_UNTRUSTED: 'Сертификат сервера не прошёл проверку (самоподписанный, просрочен, чужое имя или неизвестный УЦ).',
  SOURCE_TLS_FAILED: 'Не удалось установить TLS-соединение.',
  SOURCE_STARTTLS_UNAVAILABLE: 'Задано security: starttls, но сервер не предлагает STARTTLS.',
  SOURCE_TLS_DOWNGRADE: 'Сервер раньше предлагал STARTTLS, а теперь нет; учётные данные не отправлены.',
  SOURCE_GREETING_INVALID: 'Сервер не ответил корректным приветствием протокола.',
  SOURCE_AUTH_REJECTED: 'Сервер отклонил учётные данные.',
  SOURCE_AUTH_UNSUPPORTED: 'Сервер не предлагает способа входа, разрешённого этими настройками.',
  SOURCE_MAILBOX_NOT_FOUND: 'Такой папки (почтового ящика) на сервере нет.',
  SOURCE_PROTOCOL: 'Сервер прислал ответ, нарушающий протокол, или отказался выполнить команду.',
  SOURCE_MESSAGE_VANISHED: 'Письмо исчезло с сервера, пока его получали.',
  SOURCE_UNSUPPORTED_PROTOCOL: 'Для протокола этого подключения в этой сборке нет адаптера.',
  STORE_WRITE_FAILED: 'Не удалось записать в архив (диск заполнен, нет прав, ошибка ввода-вывода); с сервера ничего не забрано.',
  STORE_CORRUPT: 'Сохранённое в архиве письмо не прошло проверку целостности.',
  STORE_RESOURCE_EXHAUSTED: 'Архиву не хватило ресурсов, чтобы открыть или прочитать файл (слишком много открытых файлов, память); с архивом всё в порядке, операция будет повторена.',
  STORE_NOT_FOUND: 'Такого письма или файла в архиве нет.',
  ARCHIVE_NOT_FOUND: 'В настроенном каталоге данных (dataDir) нет архива (archive.db): путь указан с ошибкой или ещё ничего не получено. Команды чтения ничего не создают.',
  ARCHIVE_TOO_NEW: 'Архив обновлён более новой версией mailsluice до схемы, которую эта версия не знает; ничего не прочитано и не забрано.',
  DATA_DIR_LOCKED: 'Каталог данных занят другим процессом mailsluice (start или drain).',
  MESSAGES_NOT_ARCHIVED: 'Часть писем не удалось поместить в архив: они оставлены на сервере и больше не забираются.',
  PARSE_LIMIT_EXCEEDED: 'Письмо превысило ограничение разбора; оно сохранено в архиве как есть и помечено как неразобранное.',
  PARSE_FAILED: 'Письмо не удалось разобрать; оно сохранено в архиве как есть и помечено как неразобранное.',
  PARSE_TIMEOUT: 'Разбор письма занял больше отведённого времени; оно сохранено в архиве как есть и помечено как неразобранное.',
  ACTION_NETWORK: 'Действие сценария не достучалось до получателя (соединение отклонено или прервано, DNS); доставка будет повторена с нарастающей паузой.',
  ACTION_TIMEOUT: 'Действие сценария не получило полного ответа за отведённое время; доставка будет повторена с нарастающей паузой.',
  ACTION_RECEIVER_ERROR: 'Получатель вебхука ответил 408, 429 или 5xx; доставка будет повторена с нарастающей паузой.',
  ACTION_REJECTED: 'Получатель вебхука отказался от доставки (4xx, кроме 408 и 429, или перенаправление); она переведена в недоставленные.',
  ACTION_TLS_UNTRUSTED: 'Сертификат получателя вебхука не прошёл проверку (самоподписанный, просрочен, чужое имя или неизвестный УЦ).',
  ACTION_UNAVAILABLE: 'Действие сценария недоступно в этой сборке или установке (нет брокера для publish, нет адаптера).',
  DELIVERY_NOT_FOUND: 'Доставки с таким идентификатором нет, или она не в недоставленных.',
  DELIVERY_INTERRUPTED: 'Попытка доставки не завершилась: выполнявший её процесс остановился раньше, чем записал результат; она засчитана как неудачная.',
  CLI_USAGE: 'Командная строка не распознана.',
  INPUT_NOT_FOUND: 'Файл, указанный в командной строке, не найден или не читается.',
  SEARCH_QUERY_INVALID: 'Поисковый запрос не удаётся прочитать (незакрытая кавычка, пустая фраза, одиночная *).',
  DELIVERIES_DEAD: 'Часть доставок переведена в недоставленные: путь передачи данных не смог доставить письма за отведённое число попыток.',
  NOTHING_TO_DRAIN: 'Нечего забирать: в конфигурации нет ни одного включённого подключения.',
  INTERNAL: 'Непредвиденная внутренняя ошибка.',
  ACTION_SCRIPT_INVALID: 'Модуль скрипта нельзя использовать: его нет, тип файла не поддерживается, он не загружается или не экспортирует функцию handle.',
  ACTION_SCRIPT_FAILED: 'Функция handle скрипта выбросила исключение или её промис отклонён.',
  ACTION_SCRIPT_TIMEOUT: 'Скрипт не уложился в отведённое время или попытка прервана; его процесс остановлен, следующее письмо примет новый.',
  ACTION_SCRIPT_CRASHED: 'Процесс скрипта завершился аварийно (не хватило памяти, убит сигналом или по лимиту процессорного времени); следующее письмо примет новый процесс.',
  ACTION_SCRIPT_BAD_RESPONSE: 'Скрипт вернул недопустимый ответ (ожидается { addFlags?: string[], moveTo?: string }).',
  ACTION_FORWARD_CONNECTION_FAILED: 'Не удалось подключиться к серверу пересылки или соединение прервалось (DNS, отказ, тайм-аут, TLS, протокол).',
  ACTION_FORWARD_TLS_UNTRUSTED: 'Сертификат сервера пересылки не прошёл проверку.',
  ACTION_FORWARD_AUTH_REJECTED: 'Сервер пересылки отклонил учётные данные.',
  ACTION_FORWARD_DEFERRED: 'Сервер пересылки временно не принял письмо (ответ 4xx); оно будет отправлено позже.',
  ACTION_FORWARD_REJECTED: 'Сервер пересылки окончательно отклонил письмо, отправителя или получателя (ответ 5xx).',
  API_LISTEN_FAILED: 'HTTP API не может слушать заданный адрес (он занят, не локальный или нет прав).',
  API_URL_KEY_UNUSABLE: 'Ключ подписи ссылок на вложения (api-url.key в каталоге данных) не читается, не создаётся или не равен 32 байтам.',
  API_BAD_REQUEST: 'Запрос содержит недопустимое значение.',
  API_FORBIDDEN: 'Недостаточно прав для этого действия.',
  API_UNAUTHORIZED: 'Этот токен архиву неизвестен: опечатка, или токен отозван.',
  API_NOT_FOUND: 'Не найдено.',
  API_METHOD_NOT_ALLOWED: 'Этот метод для данного адреса не поддерживается.',
  CONFIG_CONFLICT: 'Конфигурация изменилась с тех пор, как её прочитали: обновите страницу и внесите правку снова.',
  CONFIG_EXISTS: 'Подключение или путь передачи данных с таким именем уже есть.',
  CONFIG_WRITE_FAILED: 'Не удалось записать файл конфигурации (нет прав, диск заполнен); он оставлен без изменений.',
  SECRETS_UNREADABLE: 'Хранилище секретов (secrets.enc) или его ключ не читается, либо значение не расшифровывается этим ключом.',
  SECRETS_WRITE_FAILED: 'Не удалось записать хранилище секретов (нет прав, диск заполнен, нет ключа); конфигурация оставлена без изменений.',
  API_BUSY: 'Служба занята: повторите чуть позже.',
  API_CSRF_REJECTED: 'Запрос отклонён защитой от подделки запросов (CSRF): обновите страницу.',
  API_RATE_LIMITED: 'Слишком много попыток: подождите минуту и попробуйте снова.',
  CONTROL_SOCKET_UNREACHABLE: 'Каталог данных занят службой mailsluice, но её управляющий сокет (control.sock) не отвечает.',
  TOKEN_EXISTS: 'API-токен с таким именем уже есть; имена должны быть уникальны.',
  TOKEN_NOT_FOUND: 'API-токена с таким именем нет (не создавался или отозван).',
  AUDIT_CHAIN_BROKEN: 'В журнале аудита запись удалена или изменена.',
  AUDIT_RETENTION_NOT_SET: 'Не задано, старше скольких дней переносить записи журнала аудита (keepDays, audit.keepDays); ничего не перенесено.',
  ALERT_SEND_FAILED: 'Оповещение не отправлено по одному из каналов (вебхук отказал или недоступен, почтовый сервер отклонил письмо); попытка повторится при следующей проверке.',
  ALERT_READING_FAILED: 'Не удалось получить показатель, нужный правилу оповещения (свободное место, недоставленные, цепочка журнала аудита); правило сохраняет состояние до следующей проверки.',
};

/**
 * The codes whose API sentence names the case (the parameter, the character of the query, the
 * key of the configuration, the record, the pid, the cause): in Russian the service's sentence
 * follows the catalogue's after {@link RU_DETAILS}.
 */
export const RU_WITH_DETAILS: ReadonlySet<string> = new Set([
  'CONFIG_INVALID',
  'CONFIG_SECRET_UNRESOLVED',
  'CONNECTION_UNKNOWN',
  'API_BAD_REQUEST',
  'SEARCH_QUERY_INVALID',
  'DATA_DIR_LOCKED',
  'CONTROL_SOCKET_UNREACHABLE',
  'AUDIT_CHAIN_BROKEN',
  'INTERNAL',
]);

/** The word before the service's details. */
export const RU_DETAILS = 'Подробности';
