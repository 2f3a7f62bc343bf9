# Courriels (placements email.welcome et email.cart_reminder), français du Québec.
# Objets de 70 caractères au plus, textes d'aperçu de 110 au plus.
# Les corps sont en HTML : balisage simple, aucune variable dans les attributs.

## Courriel de bienvenue
email-welcome-subject = Bienvenue chez Northwind, { $first_name }!
    .anonymous = Bienvenue chez Northwind!
email-welcome-preheader = Votre code de bienvenue de 10 % se trouve dans ce courriel.
email-welcome-body =
    <p>Bonjour { $first_name },</p>
    <p>Merci de vous être inscrit chez Northwind. Utilisez le code <strong>HELLO10</strong> pour obtenir 10 % de rabais sur votre première commande.</p>
    <p>À bientôt dans les sentiers!</p>
    .anonymous =
        <p>Bonjour,</p>
        <p>Merci de vous être inscrit chez Northwind. Utilisez le code <strong>HELLO10</strong> pour obtenir 10 % de rabais sur votre première commande.</p>
        <p>À bientôt dans les sentiers!</p>

email-welcome-pickup-subject = Bienvenue! La cueillette en magasin est gratuite
email-welcome-pickup-preheader = Commandez en ligne, ramassez en magasin Northwind au Canada, en France ou en Belgique.
email-welcome-pickup-body =
    <p>Bienvenue chez Northwind!</p>
    <p>Commandez en ligne et ramassez votre équipement au magasin de votre choix, <strong>sans frais</strong>, habituellement en moins de deux heures.</p>
    <p>Nos conseillers se feront un plaisir de vous aider à trouver la bonne taille.</p>

email-welcome-vip-subject = { $first_name }, votre cadeau de bienvenue VIP est arrivé
    .anonymous = Votre cadeau de bienvenue VIP est arrivé
email-welcome-vip-preheader = Accès hâtif aux soldes, livraison express gratuite et un cadeau de notre part.
email-welcome-vip-body =
    <p>Bonjour { $first_name },</p>
    <p>À titre de membre VIP Northwind, vous profitez d’un <strong>accès hâtif</strong> à tous les soldes, de la livraison express gratuite et d’un cadeau de bienvenue avec votre prochaine commande.</p>
    .anonymous =
        <p>Bonjour,</p>
        <p>À titre de membre VIP Northwind, vous profitez d’un <strong>accès hâtif</strong> à tous les soldes, de la livraison express gratuite et d’un cadeau de bienvenue avec votre prochaine commande.</p>

## Rappel de panier
email-cart-reminder-subject = Vous avez oublié quelque chose dans votre panier
email-cart-reminder-preheader = Nous avons gardé vos articles, mais les tailles populaires s’envolent vite.
email-cart-reminder-body =
    <p>Votre panier vous attend.</p>
    <p>Nous gardons vos articles encore quelques jours. Les tailles et couleurs populaires s’envolent vite : ne tardez pas trop.</p>
email-cart-reminder-cta-label = Retourner à mon panier

email-cart-reminder-member-subject =
    { $tier ->
        [gold] Livraison gratuite sur votre panier avec le statut Gold
        [silver] Livraison gratuite sur votre panier avec le statut Silver
       *[other] Livraison gratuite sur votre panier grâce à votre statut
    }
    .anonymous = Livraison gratuite sur votre panier grâce à votre statut
email-cart-reminder-member-preheader = Les membres profitent de la livraison express gratuite sur chaque commande.
email-cart-reminder-member-body =
    <p>Votre panier vous attend, et la livraison est à nos frais.</p>
    <p>{ $points ->
        [one] Vous avez aussi <strong>{ $points } point</strong> à échanger.
       *[other] Vous avez aussi <strong>{ $points } points</strong> à échanger.
    }</p>
    .anonymous =
        <p>Votre panier vous attend, et la livraison est à nos frais.</p>
        <p>N’oubliez pas que vous pouvez échanger vos points au moment de payer.</p>

email-cart-reminder-lapsing-subject = { $first_name }, nous avons gardé votre panier
    .anonymous = Nous avons gardé votre panier pour vous
email-cart-reminder-lapsing-preheader = Voici 15 % de rabais pour vous aider à vous décider, valide pendant 48 heures.
email-cart-reminder-lapsing-body =
    <p>Bonjour { $first_name },</p>
    <p>Ça fait longtemps! Votre panier est toujours là, et le code <strong>COMEBACK15</strong> vous donne 15 % de rabais pendant 48 heures.</p>
    .anonymous =
        <p>Bonjour,</p>
        <p>Ça fait longtemps! Votre panier est toujours là, et le code <strong>COMEBACK15</strong> vous donne 15 % de rabais pendant 48 heures.</p>
